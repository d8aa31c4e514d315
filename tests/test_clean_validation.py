"""Validation plates are rendered with every label right, whatever label noise the training
plates carry: a run trained on noisy labels is judged on true ones."""
from pathlib import Path


from lpr_lib.config import SynthConfig
from lpr_lib.train import default_config


def test_override_clean_drops_only_the_label_noise():
    noisy = SynthConfig.from_dict({"label_noise": 0.15, "tight_crops": 0.2}, source="t")
    clean = noisy.override_clean()
    assert (clean.label_noise, noisy.label_noise) == (0.0, 0.15)
    assert clean.changes() == {"tight_crops": 0.2}
    assert SynthConfig().override_clean().changes() == {}  # the cached default set is reused


def test_the_validation_plates_of_a_noisy_run_are_rendered_clean(monkeypatch):
    import lpr_lib.train as train

    samples = Path(__file__).resolve().parent.parent / "data_samples"
    asked = []

    def fake_folder(count, image_size, seed, root=None, synth=None):
        asked.append({"count": count, "seed": seed, "noise": synth.label_noise})
        return samples  # nothing is rendered: the committed sample plates stand in

    monkeypatch.setattr(train, "synthetic_folder", fake_folder)
    cfg = default_config().override(["data.synth.label_noise=0.15", "data.val_size=16",
                                     "data.synthetic_train=32"])
    train.prepare_data(cfg)
    training = [a for a in asked if a["seed"] == cfg.seed]
    validation = [a for a in asked if a["seed"] == cfg.seed + 1]
    assert training and all(a["noise"] == 0.15 for a in training)
    assert validation and all(a["noise"] == 0.0 for a in validation)
