"""Network slimming (lpr_lib.prune): removing channels whose BatchNorm writes zeros leaves
the outputs unchanged, for every backbone and head; the rebuilt model is genuinely narrower,
its channel ties are kept, and it saves, loads and exports."""
import numpy as np
import pytest

import keras
from keras import layers

from lpr_lib.model import ModelConfig, build_model, count_flops
from lpr_lib.prune import channel_spaces, prune_model, select_channels

SIZE = (32, 96)
BACKBONES = ["resnet18", "resnet18_v2", "resnext18", "mobilenet_v1", "mobilenet_v2",
             "mobilenet_v3"]


def _randomised(model, seed=0):
    """Random BatchNorm statistics and affine parameters (a fresh model's are 1/0, which
    would hide a mis-sliced vector)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, n), rng.normal(0, 0.3, n),
                               rng.normal(0, 0.3, n), rng.uniform(0.5, 2.0, n)])
    return model


def _silence(model, g, drop_share=0.4, seed=1):
    """Set gamma = beta = 0 on a random share of every prunable space's channels, in every
    BatchNorm that scores the space; return the channels left (what pruning should keep)."""
    rng = np.random.default_rng(seed)
    keep = {}
    for r in sorted({g.find(i) for i in range(len(g.spaces))}):
        s = g.spaces[r]
        if not s.prunable:
            continue
        per = s.size // s.groups
        n_keep = max(1, int(round(per * (1 - drop_share))))
        idx = np.sort(np.concatenate([q * per + rng.choice(per, n_keep, replace=False)
                                      for q in range(s.groups)]))
        drop = np.setdiff1d(np.arange(s.size), idx)
        for name in s.scored_by:
            bn = model.get_layer(name)
            w = bn.get_weights()
            w[0][drop] = 0.0
            w[1][drop] = 0.0
            bn.set_weights(w)
        keep[r] = idx
    return keep


def _outputs(model, x):
    out = model(x, training=False)
    return {k: np.asarray(v) for k, v in out.items()}


@pytest.mark.parametrize("backbone", BACKBONES)
@pytest.mark.parametrize("pooling", ["flatten", "avg"])
def test_removing_silent_channels_keeps_the_outputs(backbone, pooling):
    model = _randomised(build_model(ModelConfig(backbone=backbone, width=0.25, pooling=pooling),
                                    image_size=SIZE))
    g, _ = channel_spaces(model)
    keep = _silence(model, g)
    assert keep, f"{backbone}: no prunable channel space found"
    pruned, report = prune_model(model, 0.0, keep=keep)
    x = np.random.default_rng(3).normal(size=(2, *SIZE, 3)).astype("float32")
    a, b = _outputs(model, x), _outputs(pruned, x)
    for key in a:
        np.testing.assert_allclose(b[key], a[key], atol=2e-5, err_msg=f"{backbone} {key}")
    assert report["params_after"] < report["params_before"]
    assert count_flops(pruned)["macs"] < count_flops(model)["macs"]


def _conv_filters(model):
    return {lay.name: lay.filters for lay in model.layers
            if isinstance(lay, layers.Conv2D) and not isinstance(lay, layers.DepthwiseConv2D)}


@pytest.mark.parametrize("backbone", BACKBONES)
def test_channel_ties_and_groups(backbone):
    model = _randomised(build_model(ModelConfig(backbone=backbone, width=0.25), image_size=SIZE))
    g, io = channel_spaces(model)
    keep = select_channels(g, 0.5)
    pruned, _ = prune_model(model, 0.5, keep=keep)
    before, after = _conv_filters(model), _conv_filters(pruned)
    for r, k in keep.items():
        s = g.spaces[r]
        for name in s.producers:  # every convolution writing a tied space keeps the same count
            assert after[name] == len(k)
        if s.groups > 1:  # the same number kept in each group
            counts = np.bincount(k // (s.size // s.groups), minlength=s.groups)
            assert len(set(counts)) == 1, (backbone, s.producers, counts)
    for lay in pruned.layers:  # the joins see equal shapes (from_config would have failed)
        if isinstance(lay, layers.Add):
            assert len({t.shape[-1] for t in lay.input}) == 1
    assert sum(after.values()) < sum(before.values())
    if backbone == "resnext18":
        grouped = [lay for lay in pruned.layers if isinstance(lay, layers.Conv2D)
                   and lay.groups > 1]
        assert grouped and all(lay.filters % lay.groups == 0 for lay in grouped)


def test_global_threshold_removes_the_smallest_gammas():
    model = build_model(ModelConfig(width=0.25), image_size=SIZE)
    g, _ = channel_spaces(model)
    rng = np.random.default_rng(5)
    for lay in model.layers:
        if isinstance(lay, layers.BatchNormalization):
            w = lay.get_weights()
            w[0] = rng.uniform(0.01, 1.0, w[0].shape)
            lay.set_weights(w)
    g, _ = channel_spaces(model)
    keep = select_channels(g, 0.3)
    roots = [r for r in keep]
    total = sum(g.spaces[r].size for r in roots)
    kept = sum(len(k) for k in keep.values())
    assert abs((total - kept) / total - 0.3) < 0.02  # the share asked for (ties aside)
    # a kept channel never scores below a removed one
    scores = {r: np.max(np.stack(g.spaces[r].scores), 0) for r in roots}
    lowest_kept = min(scores[r][k].min() for r, k in keep.items())
    highest_dropped = max(np.delete(scores[r], k).max(initial=-1) for r, k in keep.items())
    assert highest_dropped <= lowest_kept


def test_at_least_one_channel_a_space():
    model = build_model(ModelConfig(width=0.25), image_size=SIZE)
    g, _ = channel_spaces(model)
    keep = select_channels(g, 0.999, min_channels=1)
    assert all(len(k) >= 1 for k in keep.values())
    pruned, _ = prune_model(model, 0.999)
    assert pruned(np.zeros((1, *SIZE, 3), "float32"))["chars"].shape[0] == 1


def test_kept_whole_spaces_say_why():
    model = build_model(ModelConfig(backbone="resnet18_v2", width=0.25), image_size=SIZE)
    _, report = prune_model(model, 0.5)
    whole = [s for s in report["spaces"] if "kept_whole" in s]
    assert any("not read by a BatchNorm alone" in s["kept_whole"] for s in whole)
    with pytest.raises(ValueError, match="pruned ratio"):
        prune_model(model, 1.0)


def test_attention_head_keeps_the_last_map_whole():
    model = build_model(ModelConfig(width=0.25, pooling="attention"), image_size=SIZE)
    pruned, report = prune_model(model, 0.5)
    assert pruned.get_layer("pool").input.shape[-1] == model.get_layer("pool").input.shape[-1]
    assert report["params_after"] < report["params_before"]


def test_pruned_model_saves_loads_and_exports(tmp_path):
    from lpr_lib.predict import load_model

    model = _randomised(build_model(ModelConfig(width=0.25), image_size=SIZE))
    pruned, _ = prune_model(model, 0.5)
    path = tmp_path / "pruned.keras"
    pruned.save(path)
    again = load_model(path)
    x = np.random.default_rng(0).normal(size=(1, *SIZE, 3)).astype("float32")
    np.testing.assert_allclose(_outputs(again, x)["chars"], _outputs(pruned, x)["chars"],
                               atol=1e-6)
    assert _conv_filters(again) == _conv_filters(pruned)
    from lpr_lib.export import export_tflite, tflite_predict

    lite = tflite_predict(export_tflite(pruned, tmp_path / "pruned.tflite"), x)
    np.testing.assert_allclose(lite["chars"], _outputs(pruned, x)["chars"], atol=1e-5)
    keras.backend.clear_session()


def test_lpr_prune_fine_tunes_a_narrower_model_and_resumes(tmp_path, capsys):
    """`lpr prune RUN --ratio R`: a tiny run, pruned and fine-tuned one epoch; the result
    folder holds the narrower model and the report; a bad ratio is refused up front."""
    from lpr_lib.cli import main
    from lpr_lib.predict import load_model
    from lpr_lib.train import default_config, train

    src = tmp_path / "src"
    cfg = default_config().override(["epochs=1", "data.synthetic_train=128", "data.val_size=32",
                                     "data.image_size=[32, 96]", "steps_per_epoch=2",
                                     "model.bn_decay=1e-3", "model.bn_decay_type=l1",
                                     "verbose=0", "jit_compile=false"])
    train(cfg, src)
    out = tmp_path / "pruned"
    assert main(["prune", str(src), "--ratio", "0.5", "--out", str(out), "--epochs", "1",
                 "--set", "steps_per_epoch=2"]) == 0
    small, big = load_model(out), load_model(src)
    assert small.count_params() < big.count_params()
    assert (out / "prune.json").is_file() and (out / "result.json").is_file()
    bn = [lay for lay in small.layers if isinstance(lay, layers.BatchNormalization)]
    assert all(lay.gamma_regularizer is None for lay in bn)  # the sparsity penalty is off
    capsys.readouterr()
    # as `lpr train`: a finished run is not trained again (nor silently replaced)
    assert main(["prune", str(src), "--ratio", "0.5", "--out", str(out), "--epochs", "1"]) != 0
    assert "holds a finished run" in capsys.readouterr().err
    assert main(["prune", str(src), "--ratio", "1.5", "--out", str(tmp_path / "x")]) == 2
    assert "the pruned ratio must be in [0, 1), not 1.5" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()  # refused before any folder was made
