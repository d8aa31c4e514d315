"""The losses against independent NumPy references on fixed inputs.

References (all written here, loop-based, in float64, sharing no code with lpr_lib):
* masked cross-entropy and label smoothing: the definitions (Szegedy et al. 2016), Keras'
  cross-entropies on the present positions, and PyTorch's ``cross_entropy`` with
  ``ignore_index=-1`` (values recorded in tests/fixtures/ce_torch.json by
  tools/record_reference_fixtures.py);
* focal: Lin et al. 2017's ``-alpha (1 - p_t)^gamma log p_t`` and Keras'
  ``CategoricalFocalCrossentropy`` applied to the present positions only;
* GHM-C: (a) the paper's gradient density, counted pairwise (``GD(g_i)`` = how many
  ``g_k`` share g_i's unit region), with its moving average (eq. 12), and (b) a
  line-by-line NumPy translation of mmdetection's ``GHMC.forward``
  (mmdet/models/losses/ghm_loss.py, as in open-mmlab/mmdetection 080742c), fed one binary
  logit per present position:
  ``logit(p_true)`` with target 1. For that input mmdet's ``g = |sigmoid(x) - 1|``
  is our softmax ``g = 1 - p_true``, its BCE is our ``-log p_true``, so the bins,
  counts, ``acc_sum``, weights and loss coincide; we compare the moving-average
  counts exactly and the loss as ``ours = mmdet * N / batch`` (our documented
  normalisation). Label-wise = 8 independent mmdet instances, one per head.
"""
import keras
import numpy as np
import pytest
import tensorflow as tf

from lpr_lib.losses import GHMC, FocalLoss, MaskedCrossEntropy, get_loss

B, H, C = 6, 8, 11
EPS = 1e-7


def make_batch(seed=0, batch=B, classes=C, absent_rows=(0, 2, 5)):
    """Labels with -1 in the 8th position of some plates, and probabilities whose
    true-class probability spans (0, 1): easy, medium and badly wrong positions."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, size=(batch, H)).astype(np.int32)
    for r in absent_rows:
        if r < batch:
            labels[r, 7] = -1
    logits = rng.normal(size=(batch, H, classes))
    boost = rng.uniform(-3, 8, size=(batch, H))
    safe = np.where(labels >= 0, labels, 0)
    np.put_along_axis(logits, safe[..., None],
                      np.take_along_axis(logits, safe[..., None], -1) + boost[..., None], -1)
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    return labels, logits.astype(np.float32), probs.astype(np.float32)


# ----------------------------------------------------------------------------- references
def ref_masked_ce(labels, probs, smoothing=0.0):
    probs = np.clip(probs.astype(np.float64), EPS, 1 - EPS)
    total = 0.0
    for b in range(labels.shape[0]):
        for h in range(labels.shape[1]):
            y = labels[b, h]
            if y < 0:
                continue
            c = probs.shape[-1]
            for k in range(c):
                t = (1 - smoothing) * (k == y) + smoothing / c
                total -= t * np.log(probs[b, h, k])
    return total / labels.shape[0]


def ref_focal(labels, probs, gamma, alpha):
    probs = np.clip(probs.astype(np.float64), EPS, 1 - EPS)
    total = 0.0
    for b in range(labels.shape[0]):
        for h in range(labels.shape[1]):
            y = labels[b, h]
            if y >= 0:
                pt = probs[b, h, y]
                total += -(1.0 if alpha is None else alpha) * (1 - pt) ** gamma * np.log(pt)
    return total / labels.shape[0]


def ref_ghm_paper(labels, probs, bins, momentum, acc, mode):
    """The paper's GHM-C with pairwise density counting.

    GD(g_i) = (1/eps) * #{k : g_k in the unit region of g_i}, eps = 1/bins; with the
    moving average (eq. 12) the region count R is replaced by its average. The
    weight is beta_i = N / GD(g_i). As mmdetection (and lpr_lib), the density uses
    the number n of non-empty regions in place of 1/eps = bins (so the weights
    average 1 over the batch); and the moving average only moves non-empty regions.
    Returns (loss = sum_i beta_i CE_i / batch, new acc).
    """
    probs = np.clip(probs.astype(np.float64), EPS, 1 - EPS)
    edges = np.arange(bins + 1, dtype=np.float32) / np.float32(bins)
    edges[-1] += 1e-6
    acc = acc.copy()
    groups = [[(b, h) for b in range(labels.shape[0]) for h in range(H) if labels[b, h] >= 0]]
    if mode == "labelwise":
        groups = [[(b, h) for b in range(labels.shape[0]) if labels[b, h] >= 0] for h in range(H)]
    total = 0.0
    for gi, group in enumerate(groups):
        a = acc if mode == "global" else acc[gi]
        g = {pos: np.float32(1 - np.float32(probs[pos][labels[pos]])) for pos in group}
        region = {pos: max(i for i in range(bins) if g[pos] >= edges[i]) for pos in group}
        N = len(group)
        regions = sorted(set(region.values()))
        n = len(regions)
        for r in regions:
            count = sum(1 for pos in group if region[pos] == r)  # pairwise count of the region
            a[r] = momentum * a[r] + (1 - momentum) * count if momentum > 0 else count
        for pos in group:
            gd = a[region[pos]] * n
            beta = N / gd
            total += beta * -np.log(probs[pos][labels[pos]])
    return total / labels.shape[0], acc


class MMDetGHMC:
    """mmdet/models/losses/ghm_loss.py ``GHMC.forward``, in NumPy, line by line
    (use_sigmoid=True, loss_weight=1, reduction='mean')."""

    def __init__(self, bins=10, momentum=0.0):
        self.bins = bins
        self.momentum = momentum
        edges = np.arange(bins + 1, dtype=np.float32) / bins
        edges[-1] += 1e-6
        self.edges = edges
        if momentum > 0:
            self.acc_sum = np.zeros(bins, dtype=np.float32)

    def forward(self, pred, target, label_weight):
        target, label_weight = target.astype(np.float32), label_weight.astype(np.float32)
        edges = self.edges
        mmt = self.momentum
        weights = np.zeros_like(pred, dtype=np.float64)
        g = np.abs(1 / (1 + np.exp(-pred.astype(np.float64))) - target)  # sigmoid().detach()
        g = g.astype(np.float32)
        valid = label_weight > 0
        tot = max(valid.astype(np.float32).sum(), 1.0)
        n = 0
        for i in range(self.bins):
            inds = (g >= edges[i]) & (g < edges[i + 1]) & valid
            num_in_bin = inds.sum()
            if num_in_bin > 0:
                if mmt > 0:
                    self.acc_sum[i] = mmt * self.acc_sum[i] + (1 - mmt) * num_in_bin
                    weights[inds] = tot / self.acc_sum[i]
                else:
                    weights[inds] = tot / num_in_bin
                n += 1
        if n > 0:
            weights = weights / n
        x = pred.astype(np.float64)
        bce = np.maximum(x, 0) - x * target + np.log1p(np.exp(-np.abs(x)))
        return (bce * weights).sum() / tot, tot


def mmdet_inputs(labels, probs, head=None):
    """One binary logit per present position: logit(p_true), target 1."""
    p = np.clip(probs.astype(np.float64), EPS, 1 - EPS)
    safe = np.where(labels >= 0, labels, 0)
    pt = np.take_along_axis(p, safe[..., None], -1)[..., 0]
    if head is not None:
        pt, valid = pt[:, head], labels[:, head] >= 0
    else:
        pt, valid = pt.reshape(-1), (labels >= 0).reshape(-1)
    return np.log(pt) - np.log1p(-pt), np.ones_like(pt), valid


# ----------------------------------------------------------------------------- tests
@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3])
def test_masked_ce_matches_reference(smoothing):
    labels, logits, probs = make_batch()
    got = MaskedCrossEntropy(label_smoothing=smoothing)(labels, probs)
    np.testing.assert_allclose(float(got), ref_masked_ce(labels, probs, smoothing), rtol=1e-5)
    got_logits = MaskedCrossEntropy(label_smoothing=smoothing, from_logits=True)(labels, logits)
    np.testing.assert_allclose(float(got_logits), ref_masked_ce(labels, probs, smoothing),
                               rtol=1e-4)


def test_masked_ce_matches_keras_on_present_positions():
    labels, _, probs = make_batch(1)
    present = labels >= 0
    per_pos = keras.losses.SparseCategoricalCrossentropy(reduction=None)(
        labels[present], probs[present])
    expected = float(np.sum(per_pos)) / labels.shape[0]
    np.testing.assert_allclose(float(MaskedCrossEntropy()(labels, probs)), expected, rtol=1e-5)
    smooth = keras.losses.CategoricalCrossentropy(label_smoothing=0.2, reduction=None)(
        np.eye(C, dtype=np.float32)[labels[present]], probs[present])
    np.testing.assert_allclose(float(MaskedCrossEntropy(0.2)(labels, probs)),
                               float(np.sum(smooth)) / labels.shape[0], rtol=1e-5)


def test_masked_ce_matches_torch_ignore_index():
    import json
    from pathlib import Path
    fx = json.loads((Path(__file__).parent / "fixtures" / "ce_torch.json").read_text())
    logits, labels = np.array(fx["logits"]), np.array(fx["labels"], np.int32)
    assert (labels == -1).sum() == 3
    for eps, expected in fx["loss"].items():
        got = MaskedCrossEntropy(float(eps), from_logits=True)(labels, logits.astype(np.float32))
        np.testing.assert_allclose(float(got), expected, rtol=1e-5, err_msg=f"eps={eps}")
        got64 = MaskedCrossEntropy(float(eps), from_logits=True, dtype="float64")(labels, logits)
        np.testing.assert_allclose(float(got64), expected, rtol=1e-12, err_msg=f"eps={eps}")


def test_float_labels_are_cast():
    labels, _, probs = make_batch(2)
    a = MaskedCrossEntropy()(labels, probs)
    b = MaskedCrossEntropy()(labels.astype(np.float32), probs)
    assert float(a) == float(b)


@pytest.mark.parametrize("gamma,alpha", [(2.0, 0.25), (2.0, None), (0.5, 0.5), (0.0, None)])
def test_focal_matches_paper_and_keras(gamma, alpha):
    labels, _, probs = make_batch(3)
    got = float(FocalLoss(gamma=gamma, alpha=alpha)(labels, probs))
    np.testing.assert_allclose(got, ref_focal(labels, probs, gamma, alpha), rtol=1e-5)
    present = labels >= 0
    kfocal = keras.losses.CategoricalFocalCrossentropy(
        gamma=gamma, alpha=1.0 if alpha is None else alpha, reduction=None)
    per_pos = kfocal(np.eye(C, dtype=np.float32)[labels[present]], probs[present])
    np.testing.assert_allclose(got, float(np.sum(per_pos)) / labels.shape[0], rtol=1e-5)


def test_focal_gamma0_is_ce():
    labels, _, probs = make_batch(4)
    np.testing.assert_allclose(float(FocalLoss(gamma=0.0, alpha=None)(labels, probs)),
                               float(MaskedCrossEntropy()(labels, probs)), rtol=1e-6)


@pytest.mark.parametrize("mode", ["global", "labelwise"])
@pytest.mark.parametrize("momentum", [0.0, 0.75])
def test_ghm_matches_mmdetection_over_steps(mode, momentum):
    bins = 30
    loss = GHMC(bins=bins, momentum=momentum, mode=mode)
    heads = [None] if mode == "global" else list(range(H))
    mm = {h: MMDetGHMC(bins, momentum) for h in heads}
    for step in range(3):
        labels, _, probs = make_batch(10 + step)
        got = float(loss(labels, probs))
        expected = 0.0
        for h in heads:
            pred, target, valid = mmdet_inputs(labels, probs, h)
            value, tot = mm[h].forward(pred, target, valid)
            expected += value * tot / labels.shape[0]
        np.testing.assert_allclose(got, expected, rtol=2e-5, err_msg=f"step {step}")
        if momentum > 0:
            acc = np.stack([mm[h].acc_sum for h in heads]) if mode == "labelwise" \
                else mm[None].acc_sum
            np.testing.assert_allclose(loss.acc.numpy(), acc, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("mode", ["global", "labelwise"])
def test_ghm_matches_paper_reference(mode):
    loss = GHMC(bins=10, momentum=0.75, mode=mode)
    acc = np.zeros(loss.acc.shape)
    for step in range(3):
        labels, _, probs = make_batch(20 + step)
        expected, acc = ref_ghm_paper(labels, probs, 10, 0.75, acc, mode)
        np.testing.assert_allclose(float(loss(labels, probs)), expected, rtol=2e-5)
        np.testing.assert_allclose(loss.acc.numpy(), acc, rtol=1e-6, atol=1e-6)


def test_ghm_one_bin_no_momentum_is_ce():
    labels, _, probs = make_batch(5)
    for mode in ("global", "labelwise"):
        np.testing.assert_allclose(float(GHMC(bins=1, momentum=0.0, mode=mode)(labels, probs)),
                                   float(MaskedCrossEntropy()(labels, probs)), rtol=1e-6)


def test_ghm_down_weights_easy_examples():
    """Many easy positions and a few hard ones: the easy ones' weights fall below 1."""
    probs = np.full((16, H, 2), 0.0, np.float32)
    probs[..., 0] = 0.99
    probs[:2, :, 0] = 0.3  # 16 hard positions out of 128
    probs[..., 1] = 1 - probs[..., 0]
    loss = GHMC(bins=10, momentum=0.0)
    from keras import ops
    g = ops.convert_to_tensor(1 - probs[..., 0])
    w, _ = loss.weights(g, ops.ones((16, H)), update=False)
    w = np.asarray(w)
    assert w[5, 0] < 1 < w[0, 0]
    np.testing.assert_allclose(w.mean(), 1.0, rtol=1e-6)  # weights average to 1


def test_ghm_gradient_has_constant_weights():
    """No gradient flows through the weights: d loss / d logits = w (p - onehot) / batch."""
    labels, logits, probs = make_batch(6)
    loss = GHMC(bins=30, momentum=0.0, from_logits=True)
    x = tf.Variable(logits)
    with tf.GradientTape() as tape:
        value = loss(labels, x)
    grad = tape.gradient(value, x).numpy()
    g = tf.constant(1 - np.take_along_axis(probs, np.maximum(labels, 0)[..., None], -1)[..., 0])
    w, _ = GHMC(bins=30, momentum=0.0).weights(g, tf.constant((labels >= 0).astype(np.float32)),
                                              update=False)
    onehot = np.eye(C)[np.maximum(labels, 0)]
    expected = np.asarray(w)[..., None] * (probs - onehot) / labels.shape[0]
    np.testing.assert_allclose(grad, expected, atol=1e-6)


ALL = [MaskedCrossEntropy(), MaskedCrossEntropy(label_smoothing=0.1), FocalLoss(),
       FocalLoss(alpha=None), "ghm_global", "ghm_labelwise"]


@pytest.mark.parametrize("make", ALL, ids=lambda m: m if isinstance(m, str) else m.name)
def test_absent_positions_never_change_the_loss(make):
    labels, logits, probs = make_batch(7)
    rng = np.random.default_rng(99)
    other = probs.copy()
    absent = labels < 0
    junk = rng.dirichlet(np.ones(C) * 0.1, size=int(absent.sum())).astype(np.float32)
    other[absent] = junk
    fresh = (lambda: get_loss(make)) if isinstance(make, str) else (lambda: make)
    a, b = float(fresh()(labels, probs)), float(fresh()(labels, other))
    assert a == pytest.approx(b, rel=1e-6)
    x = tf.Variable(probs)
    with tf.GradientTape() as tape:
        value = fresh()(labels, x)
    assert np.all(tape.gradient(value, x).numpy()[absent] == 0)


@pytest.mark.parametrize("mode", ["global", "labelwise"])
def test_ghm_state_persists_in_tf_function(mode):
    loss = GHMC(bins=30, momentum=0.75, mode=mode)
    heads = [None] if mode == "global" else list(range(H))
    mm = {h: MMDetGHMC(30, 0.75) for h in heads}
    step = tf.function(lambda y, p: loss(y, p))
    for s in range(2):
        labels, _, probs = make_batch(30 + s)
        step(tf.constant(labels), tf.constant(probs))
        for h in heads:
            mm[h].forward(*mmdet_inputs(labels, probs, h))
    acc = np.stack([mm[h].acc_sum for h in heads]) if mode == "labelwise" else mm[None].acc_sum
    np.testing.assert_allclose(loss.acc.numpy(), acc, rtol=1e-6, atol=1e-6)
    assert np.count_nonzero(loss.acc.numpy()) > 0
    loss.reset_state()
    assert not np.any(loss.acc.numpy())


def _tiny_model(labels_probs):
    """A model whose output does not depend on its input: a trainable table of logits."""
    _, logits, _ = labels_probs
    inp = keras.Input((1,))
    dense = keras.layers.Dense(H * C, use_bias=False,
                               kernel_initializer=keras.initializers.Constant(0.0))
    out = keras.layers.Reshape((H, C))(dense(inp))
    out = keras.layers.Activation("softmax")(keras.layers.Add()([
        out, keras.layers.Lambda(lambda t: keras.ops.zeros_like(t) + logits)(out)]))
    return keras.Model(inp, out)


@pytest.mark.parametrize("jit", [False, True])
def test_ghm_state_persists_across_fit_steps(jit):
    """model.fit for 2 steps (graph mode); with lr = 0 both steps see the same predictions,
    so the histogram after fit equals mmdet's after two forwards on the same batch."""
    batch = make_batch(40)
    labels, _, probs = batch
    model = _tiny_model(batch)
    loss = GHMC(bins=30, momentum=0.75, mode="labelwise")
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss=loss, jit_compile=jit)
    x = np.ones((B, 1), np.float32)
    model.fit(x, labels, batch_size=B, epochs=2, verbose=0, shuffle=False)
    mm = [MMDetGHMC(30, 0.75) for _ in range(H)]
    for _ in range(2):
        for h in range(H):
            mm[h].forward(*mmdet_inputs(labels, probs, h))
    np.testing.assert_allclose(loss.acc.numpy(), np.stack([m.acc_sum for m in mm]),
                               rtol=1e-5, atol=1e-6)
    once = [MMDetGHMC(30, 0.75) for _ in range(H)]
    for h in range(H):
        once[h].forward(*mmdet_inputs(labels, probs, h))
    assert not np.allclose(loss.acc.numpy(), np.stack([m.acc_sum for m in once]))


@pytest.mark.parametrize("loss", [MaskedCrossEntropy(0.1, from_logits=True),
                                  FocalLoss(gamma=1.5, alpha=None),
                                  GHMC(bins=20, momentum=0.5, mode="labelwise", num_heads=7)],
                         ids=lambda x: x.name)
def test_serialization_round_trip(loss):
    config = loss.get_config()
    clone = type(loss).from_config(config)
    assert clone.get_config() == config
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert type(again) is type(loss) and again.get_config() == config
    labels, logits, probs = make_batch(8)
    if isinstance(loss, GHMC):
        labels, probs = labels[:, :7], probs[:, :7]
    x = logits[:, :labels.shape[1]] if loss.get_config().get("from_logits") else probs
    assert float(clone(labels, x)) == pytest.approx(float(type(loss).from_config(config)(
        labels, x)), rel=1e-6)


def test_get_loss_names():
    assert isinstance(get_loss("ce"), MaskedCrossEntropy)
    assert get_loss("smooth").label_smoothing == 0.1
    assert get_loss("smooth", label_smoothing=0.2).label_smoothing == 0.2
    assert isinstance(get_loss("focal"), FocalLoss)
    g = get_loss("ghm_global")
    assert (g.mode, g.bins, g.momentum) == ("global", 30, 0.75)
    assert tuple(get_loss("ghm_labelwise").acc.shape) == (H, 30)
    with pytest.raises(ValueError, match="unknown loss"):
        get_loss("hinge")


def test_two_output_model_fits_saves_and_loads(tmp_path, name="ghm_labelwise"):
    """The contract with the model: a "chars" output (batch, 8, C) trained with our loss
    and a "length" output trained with Keras' SCCE; the compiled model saves and loads."""
    from lpr_lib.metrics import PlateAccuracy
    keras.utils.set_random_seed(0)
    inp = keras.Input((6,))
    chars = keras.layers.Softmax(name="chars")(keras.layers.Reshape((H, C))(
        keras.layers.Dense(H * C)(inp)))
    length = keras.layers.Dense(2, activation="softmax", name="length")(inp)
    model = keras.Model(inp, {"chars": chars, "length": length})
    loss = get_loss(name)
    model.compile(optimizer="adam",
                  loss={"chars": loss, "length": "sparse_categorical_crossentropy"},
                  metrics={"chars": [PlateAccuracy()]})
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 6)).astype(np.float32)
    labels, _, _ = make_batch(1, batch=32, absent_rows=range(0, 32, 2))
    y = {"chars": labels, "length": (labels[:, 7] >= 0).astype(np.int32)}
    hist = model.fit(x, y, batch_size=16, epochs=2, verbose=0).history
    assert "chars_plate_acc" in hist and np.isfinite(hist["loss"]).all()
    if name.startswith("ghm"):
        assert np.count_nonzero(loss.acc.numpy()) > 0
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    restored = loaded.loss["chars"]
    assert type(restored) is GHMC and restored.get_config() == loss.get_config()
    out = loaded.evaluate(x, y, verbose=0, return_dict=True)
    assert np.isfinite(out["loss"])
    np.testing.assert_allclose(loaded.predict(x[:2], verbose=0)["chars"],
                               model.predict(x[:2], verbose=0)["chars"], rtol=1e-6)
