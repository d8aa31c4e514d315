"""lpr_lib.config: every shipped config loads and round-trips, every generator and augmentation
setting is reachable from YAML and from --set, and a bad key or value is a ConfigError that
names the file, the line, the key and the problem."""
import hashlib
import json
import re
from pathlib import Path

import pytest
import yaml

from lpr_lib.config import (AugmentConfig, ConfigError, Degradation, ExperimentConfig, Lettering,
                            LossConfig, SynthConfig)
from lpr_lib.repro import REPO_ROOT

CONFIGS = sorted((REPO_ROOT / "configs").glob("*.yaml"))
#: config.yaml files written by earlier versions' to_yaml (the shipped models' runs)
STORED = sorted((REPO_ROOT / "lpr_lib" / "models").glob("*/config.yaml"))

#: a value other than the default for every SynthConfig field (size is data.image_size)
SYNTH = {"kinds": {"blue": 2.0, "police": 1.0}, "provinces": "balanced", "label_noise": 0.1,
         "label_noise_truncate": 0.6, "tight_crops": 0.25,
         "lettering": {"plain_one": 0.2, "latin_width": [0.9, 0.95]},
         "degradations": {"blur": {"p": 0.9, "strength": 0.3}}}
#: ... and for every AugmentConfig field
AUGMENT = {"brightness": 0.1, "contrast": [0.7, 1.3], "saturation": [0.6, 1.2], "hue": 0.02,
           "noise_prob": 0.25, "noise_std": 0.02, "salt_pepper_prob": 0.1,
           "salt_pepper_amount": 0.01, "affine_prob": 0.9, "rotation_deg": 6.0, "shear": 0.05,
           "shear_y": 0.08, "scale": [0.88, 1.06], "shift": [0.02, 0.04], "crop_jitter": 0.06,
           "fill_mode": "constant", "downscale_prob": 0.5, "downscale": [0.4, 0.8],
           "channel_gain": 0.12}


def test_the_tables_cover_every_field():
    assert set(SYNTH) == set(SynthConfig.model_fields) - {"size"}
    assert set(AUGMENT) == set(AugmentConfig.model_fields)
    for name, value in {**SYNTH, **AUGMENT}.items():
        default = (SynthConfig() if name in SYNTH else AugmentConfig()).to_dict()[name]
        assert value != default, name


@pytest.mark.parametrize("path", CONFIGS + STORED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_shipped_configs_load_and_round_trip(path, tmp_path):
    cfg = ExperimentConfig.from_yaml(path)
    again = tmp_path / "again.yaml"
    cfg.to_yaml(again)
    assert ExperimentConfig.from_yaml(again) == cfg
    assert ExperimentConfig.from_yaml(again).to_yaml() == cfg.to_yaml()  # a fixed point
    if path in STORED:  # a run's config.yaml is read back as written; keys added since it
        stored = yaml.safe_load(path.read_text(encoding="utf-8"))  # was written: defaults
        assert _added_since(stored, cfg.to_dict(), ExperimentConfig().to_dict()) == {}


def _added_since(stored: dict, now: dict, default: dict) -> dict:
    """The differences between a stored config and the same config read back today, apart
    from keys the stored one lacks whose value today is the default."""
    out = {}
    for key in set(stored) | set(now):
        if isinstance(now.get(key), dict) and isinstance(stored.get(key), dict):
            sub = _added_since(stored[key], now[key], default.get(key) or {})
            if sub:
                out[key] = sub
        elif key not in stored:
            if now[key] != default.get(key):
                out[key] = ("added, not at its default", now[key])
        elif stored[key] != now.get(key):
            out[key] = (stored[key], now.get(key))
    return out


def test_default_yaml_is_the_default_config():
    path = REPO_ROOT / "configs" / "default.yaml"
    assert ExperimentConfig.from_yaml(path) == ExperimentConfig()
    assert yaml.safe_load(path.read_text(encoding="utf-8")) == ExperimentConfig().to_dict()


@pytest.mark.parametrize("name", sorted(SYNTH))
def test_every_generator_setting_from_yaml_and_set(name, tmp_path):
    value = SYNTH[name]
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"data": {"synth": {name: value}}}), encoding="utf-8")
    from_file = ExperimentConfig.from_yaml(path)
    from_set = ExperimentConfig().override([f"data.synth.{name}={json.dumps(value)}"])
    expected = SynthConfig(**{name: value})
    assert from_file.data.synth == from_set.data.synth == expected
    assert from_file.data.synth != SynthConfig()
    assert ExperimentConfig.from_dict(from_file.to_dict()) == from_file
    assert list(from_file.to_dict()["data"]["synth"]) == [name]  # only what was changed


@pytest.mark.parametrize("name", sorted(AUGMENT))
def test_every_augmentation_setting_from_yaml_and_set(name, tmp_path):
    value = AUGMENT[name]
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"data": {"augment": {name: value}}}), encoding="utf-8")
    from_file = ExperimentConfig.from_yaml(path)
    from_set = ExperimentConfig().override([f"data.augment.{name}={json.dumps(value)}"])
    assert from_file.data.augment == from_set.data.augment == AugmentConfig(**{name: value})
    assert from_file.to_dict()["data"]["augment"] == {name: value}
    assert ExperimentConfig.from_dict(from_file.to_dict()) == from_file


def test_nested_settings_from_set():
    cfg = ExperimentConfig().override(["data.synth.tight_crops=0.5", "data.augment.rotation_deg=6",
                                       "data.synth.lettering.plain_one=0.3",
                                       "data.synth.degradations.blur.p=0.5",
                                       "data.synth.kinds.police=0.2"])
    synth = cfg.data.synth
    assert cfg.data.augment.rotation_deg == 6.0 and synth.tight_crops == 0.5
    assert synth.lettering == Lettering(plain_one=0.3)
    assert synth.degradations["blur"] == Degradation(0.5, 0.4)  # its strength kept
    assert synth.kinds["police"] == 0.2 and synth.kinds["blue"] == 0.5  # the others kept
    assert ExperimentConfig.from_dict(yaml.safe_load(cfg.to_yaml())) == cfg
    mixed = ExperimentConfig().override(["data.mix=[{source: synthetic}, {source: a, weight: 2}]",
                                         "data.mix.1.weight=3"])
    assert [(m.source, m.weight) for m in mixed.data.mix] == [("synthetic", 1.0), ("a", 3.0)]
    with pytest.raises(ConfigError, match=r"--set: 'data\.mix\.2\.weight': data\.mix is a list "
                                          r"of 2 items, '2' is not one of its indices"):
        mixed.override(["data.mix.2.weight=1"])
    with pytest.raises(ConfigError, match=r"--set: epochs is 9, not a section"):
        ExperimentConfig().override(["epochs.first=1"])


def test_augment_true_false_or_a_mapping():
    cfg = ExperimentConfig()
    assert cfg.data.augment == AugmentConfig() and cfg.to_dict()["data"]["augment"] is True
    off = cfg.override(["data.augment=false"])
    assert off.data.augment is None and off.to_dict()["data"]["augment"] is False
    assert ExperimentConfig.from_dict(off.to_dict()) == off
    assert off.override(["data.augment=true"]) == cfg
    # a setting of an augmentation that is off switches it on, with the other defaults
    on = off.override(["data.augment.shear_y=0.1"])
    assert on.data.augment == AugmentConfig(shear_y=0.1)
    # a mapping that changes nothing is written as true
    assert cfg.override(["data.augment={rotation_deg: 4}"]).to_dict()["data"]["augment"] is True


def test_errors_name_the_file_the_line_and_the_key(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\n"            # 1
                    "epochs: 2.5\n"         # 2
                    "data:\n"               # 3
                    "  augment:\n"          # 4
                    "    rotaton_deg: 6\n"  # 5
                    "    fill_mode: 3\n"    # 6
                    "  synth:\n"            # 7
                    "    tight_crops: a lot\n"   # 8
                    "    lettering:\n"      # 9
                    "      italic: true\n"  # 10
                    "    degradations:\n"   # 11
                    "      blur: {p: 2}\n"  # 12
                    "  mix:\n"              # 13
                    "  - synthetic\n"       # 14
                    "model:\n"              # 15
                    "  widht: 0.5\n",       # 16
                    encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        ExperimentConfig.from_yaml(path)
    lines = str(err.value).splitlines()
    expected = [
        r"epochs must be an integer, got 2\.5 \(line 2\)",
        r"unknown config key 'data\.augment\.rotaton_deg' \(known at this level: brightness, "
        r".*\) \(line 5\)",
        r"data\.augment\.fill_mode must be a string, got 3 \(line 6\)",
        r"data\.synth\.tight_crops must be a number, got 'a lot' \(line 8\)",
        r"unknown config key 'data\.synth\.lettering\.italic' .* \(line 10\)",
        r"data\.synth\.degradations\.blur\.p must be a number in \[0, 1\], got 2\.0 \(line 12\)",
        r"data\.mix\[0\] must be a mapping \{source: PATH or synthetic, weight: W\}, got "
        r"'synthetic' \(line 14\)",
        r"unknown config key 'model\.widht' \(known at this level: backbone, .*\) \(line 16\)",
    ]
    assert len(lines) == len(expected), lines
    for line, pattern in zip(lines, expected):
        assert line.startswith(f"{path}: "), line
        assert re.search(pattern, line), (pattern, line)


def test_names_are_checked_against_their_registries():
    from lpr_lib.backbones import BACKBONES
    from lpr_lib.losses import LOSSES

    with pytest.raises(ConfigError, match=r"--set: loss\.name must be one of ce, smooth, .*got "
                                          r"'hinge'"):
        ExperimentConfig().override(["loss.name=hinge"])
    with pytest.raises(ConfigError, match="model.backbone must be one of " + ", ".join(BACKBONES)):
        ExperimentConfig().override(["model.backbone=vgg16"])
    with pytest.raises(ConfigError, match="optimizer.name must be one of radam, adam, sgd"):
        ExperimentConfig().override(["optimizer.name=adamw"])
    assert set(LOSSES) >= {"ce", "smooth", "focal", "ghm_global", "ghm_labelwise"}


def test_one_loss_registry_builds_each_loss_with_its_settings():
    from lpr_lib.losses import LOSSES, GHMC, FocalLoss, MaskedCrossEntropy

    kinds = {"ce": MaskedCrossEntropy, "smooth": MaskedCrossEntropy, "focal": FocalLoss,
             "ghm_global": GHMC, "ghm_labelwise": GHMC}
    assert set(kinds) == set(LOSSES)
    for name, cls in kinds.items():
        loss = LossConfig(name=name, label_smoothing=0.2, gamma=1.5, alpha=None, bins=10,
                          momentum=0.5).build()
        assert type(loss) is cls, name
        for param in LOSSES[name].params:  # each setting the registry lists reaches the loss
            assert getattr(loss, param) == getattr(LossConfig(name=name, label_smoothing=0.2,
                                                              gamma=1.5, alpha=None, bins=10,
                                                              momentum=0.5), param), name
    assert LossConfig(name="ce", label_smoothing=0.2).build().label_smoothing == 0.0
    assert LossConfig(name="ghm_labelwise").build().mode == "labelwise"


def test_calls_and_assignments_are_checked_too():
    with pytest.raises(ConfigError, match=r"ExperimentConfig: epochs must be at least 1, got 0"):
        ExperimentConfig(epochs=0)
    cfg = ExperimentConfig()
    with pytest.raises(ConfigError, match=r"ModelConfig: width must be > 0"):
        cfg.model.width = 0
    cfg.data.augment = False
    assert cfg.data.augment is None
    with pytest.raises(ConfigError, match=r"SynthConfig: tight_crops must be in \[0, 1\]"):
        SynthConfig(tight_crops=2)
    assert Degradation(0.3, 0.4) == Degradation(p=0.3, strength=0.4)
    with pytest.raises(ConfigError, match=r"data\.synth must not set size"):
        ExperimentConfig().override(["data.synth.size=[32, 96]"])


def test_synth_cache_names_are_those_of_earlier_versions(tmp_path, monkeypatch):
    """A cached synthetic set is named by the settings that differ from the defaults, hashed as
    before: the sets rendered by earlier versions are found again."""
    import lpr_lib.train as lt
    from lpr_lib.synth import GENERATOR_VERSION

    made = []
    monkeypatch.setattr("lpr_lib.synth.generate",
                        lambda count, folder, **kw: made.append((Path(folder), kw["config"])))
    plain = lt.synthetic_folder(4, [32, 96], 3, root=tmp_path)
    assert plain.name == f"4-32x96-seed3-g{GENERATOR_VERSION}"
    changes = {"kinds": {"blue": 1.0}}
    blue = lt.synthetic_folder(4, [32, 96], 3, root=tmp_path, synth=changes)
    digest = hashlib.sha1(json.dumps(changes, sort_keys=True, default=str).encode()).hexdigest()
    assert blue.name == f"{plain.name}-{digest[:8]}"
    cfg = ExperimentConfig().override(["data.synth.kinds={blue: 1}", "data.image_size=[32, 96]"])
    assert lt.synthetic_folder(4, cfg.data.image_size, 3, root=tmp_path,
                               synth=cfg.data.synth) == blue
    assert made[-1][1].size == (32, 96) and made[-1][1].kinds == {"blue": 1.0}


def test_a_run_started_by_an_older_version_resumes(tmp_path):
    """Its config.yaml lacks a key added since: that is no change of config."""
    from lpr_lib.runs import RunFolder

    stored = ExperimentConfig().to_dict()
    del stored["data"]["val_split"], stored["steps_per_execution"]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(stored), encoding="utf-8")
    run = RunFolder(tmp_path)
    assert run._config_changes(ExperimentConfig().to_dict()) == []
    assert run._config_changes(ExperimentConfig(epochs=3).to_dict()) == ["epochs: 9 -> 3"]


def test_synth_config_files_and_text(tmp_path):
    cfg = SynthConfig(**SYNTH)
    assert SynthConfig.from_yaml(cfg.to_yaml()) == cfg
    path = tmp_path / "s.yaml"
    path.write_text("tight_crops: 0.3\nlettering:\n  fonts: {comic: 1}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"s\.yaml: lettering\.fonts: unknown lettering "
                                          r"font\(s\) \['comic'\].* \(line 3\)"):
        SynthConfig.from_yaml(path)
