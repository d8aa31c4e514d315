"""The synthetic plate generator: sizes, determinism, label files, config, degradations."""
import numpy as np
import pytest

from lpr_lib import plates as P
from lpr_lib.synth import (Degradation, PlateGenerator, SynthConfig, default_degradations,
                           generate, no_degradations)
from lpr_lib.synth.config import DEGRADATION_NAMES
from lpr_lib.synth.render import FONT_DIR, FONT_PATH


def _gen(seed=0, **kw):
    return PlateGenerator(SynthConfig(**kw), seed=seed)


@pytest.mark.parametrize("size", [(48, 144), (24, 94), (64, 160)])
def test_every_kind_renders_at_the_requested_size(size):
    gen = _gen(size=size)
    rng = np.random.default_rng(0)
    for kind in P.KINDS:
        s = gen.sample_record(rng, kind=kind)
        assert s.image.shape == size + (3,) and s.image.dtype == np.uint8, kind
        assert s.image.std() > 10, f"{kind}: the image is nearly blank"
        assert P.is_valid(s.label, kind) and s.label == s.text and s.noise == ""


def test_clean_plate_shows_its_colours():
    gen = _gen()
    blue = gen.render_clean("苏E1500Q", "blue").reshape(-1, 3).astype(int)
    yellow = gen.render_clean("鲁B6K872", "yellow").reshape(-1, 3).astype(int)
    assert (blue[:, 2] > blue[:, 0] + 40).mean() > 0.5  # mostly blue paint
    assert ((yellow[:, 0] > 150) & (yellow[:, 2] < 100)).mean() > 0.4  # mostly yellow
    # white characters on blue: a good share of bright pixels
    assert (blue.min(1) > 170).mean() > 0.08


def test_same_seed_same_images_and_independent_of_order():
    a = [img for img, _ in _gen(seed=7).stream(5)]
    b = [img for img, _ in _gen(seed=7).stream(5)]
    c = [img for img, _ in _gen(seed=8).stream(5)]
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))
    g1, g2 = _gen(seed=3), _gen(seed=3)
    forward = [g1.sample_at(i).image for i in range(4)]
    backward = [g2.sample_at(i).image for i in reversed(range(4))][::-1]
    assert all(np.array_equal(x, y) for x, y in zip(forward, backward))


def _read_dir(d):
    lines = (d / "labels.txt").read_text(encoding="utf-8").splitlines()
    return lines, {p.name: p.read_bytes() for p in d.glob("*.jpg")}


def test_generate_is_deterministic_across_worker_counts(tmp_path):
    p1 = generate(12, tmp_path / "w1", seed=11, workers=1, progress=False)
    p2 = generate(12, tmp_path / "w2", seed=11, workers=2, progress=False)
    l1, f1 = _read_dir(p1.parent)
    l2, f2 = _read_dir(p2.parent)
    assert l1 == l2 and f1 == f2 and len(f1) == 12


def test_label_file_format(tmp_path):
    path = generate(10, tmp_path / "d", seed=1, kinds=["green_small", "police"], size=(24, 94),
                    workers=1, progress=False)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 10
    for line in lines:
        name, *idx = line.split(" ")
        assert len(idx) == P.MAX_LEN and name.endswith(".jpg")
        text = P.labels_to_text([int(i) for i in idx], check=True)
        assert P.text_from_filename(name) == text
        assert P.infer_kind(text) in ("green_small", "police")
        assert (path.parent / name).is_file()
    meta = (path.parent / "meta.tsv").read_text(encoding="utf-8").splitlines()
    assert meta[0].split("\t") == ["file", "label", "text", "kind", "noise"] and len(meta) == 11
    from lpr_lib.synth.montage import load_rgb
    assert load_rgb(path.parent / lines[0].split()[0]).shape == (24, 94, 3)


def test_generate_refuses_to_overwrite(tmp_path):
    generate(2, tmp_path, seed=1, workers=1, progress=False)
    before = (tmp_path / "labels.txt").read_bytes()
    with pytest.raises(FileExistsError, match="labels.txt exists"):
        generate(3, tmp_path, seed=2, workers=1, progress=False)
    assert (tmp_path / "labels.txt").read_bytes() == before
    generate(3, tmp_path, seed=2, workers=1, progress=False, overwrite=True)
    assert len((tmp_path / "labels.txt").read_text(encoding="utf-8").splitlines()) == 3


def test_cli_synth(tmp_path, capsys):
    from lpr_lib.cli import main

    assert main(["synth", "--count", "3", "--out", str(tmp_path), "--workers", "1",
                 "--size", "24x94", "--kinds", "blue"]) == 0
    assert "wrote 3 plates" in capsys.readouterr().out
    assert main(["synth", "--count", "3", "--out", str(tmp_path)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["synth", "--count", "1", "--out", str(tmp_path / "x"), "--kinds", "purple"]) == 2
    assert "unknown plate kind" in capsys.readouterr().err


def test_config_round_trips(tmp_path):
    cfg = SynthConfig(size=(32, 96), kinds={"blue": 2, "embassy": 1}, provinces={"皖": 1.0},
                      label_noise=0.1, degradations={"blur": Degradation(0.9, 0.2),
                                                     "night": {"p": 0.0, "strength": 1.0}})
    assert SynthConfig.from_dict(cfg.to_dict()) == cfg
    assert SynthConfig.from_yaml(cfg.to_yaml()) == cfg
    cfg.to_yaml(tmp_path / "s.yaml")
    assert SynthConfig.from_yaml(tmp_path / "s.yaml") == cfg
    assert SynthConfig.from_yaml(str(tmp_path / "s.yaml")) == cfg
    assert cfg.degradations["night"] == Degradation(0.0, 1.0)
    assert cfg.degradations["jpeg"] == default_degradations()["jpeg"]  # unset -> defaults


@pytest.mark.parametrize("bad,fragment", [
    (dict(kinds={"purple": 1}), "unknown plate kind"),
    (dict(provinces={"X": 1}), "unknown province"),
    (dict(provinces="rare"), "provinces must be"),
    (dict(label_noise=1.5), "label_noise must be in"),
    (dict(degradations={"rain": Degradation(0.1)}), "unknown degradation 'rain'"),
    (dict(degradations={"blur": {"p": 2}}), "p must be a number in"),
    (dict(size=(4, 4)), "size must be"),
])
def test_config_errors(bad, fragment):
    with pytest.raises(ValueError, match=fragment):
        SynthConfig(**bad)


def test_config_yaml_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown SynthConfig field"):
        SynthConfig.from_yaml("colour: red\n")
    (tmp_path / "bad.yaml").write_text("size: [48, 144\n", encoding="utf-8")
    with pytest.raises(ValueError, match="bad.yaml: not valid YAML"):
        SynthConfig.from_yaml(tmp_path / "bad.yaml")
    with pytest.raises(FileNotFoundError, match="missing.yaml"):
        SynthConfig.from_yaml(tmp_path / "missing.yaml")


@pytest.mark.parametrize("name", DEGRADATION_NAMES)
def test_each_degradation_changes_the_image(name):
    degs = no_degradations()
    clean = PlateGenerator(SynthConfig(degradations=degs), seed=0)
    degs = no_degradations()
    degs[name] = Degradation(1.0, 1.0)
    dirty = PlateGenerator(SynthConfig(degradations=degs), seed=0)
    # the strength drawn varies between plates: average over a few
    change = np.mean([np.abs(clean.render("苏E1500Q", "blue", np.random.default_rng(s)).astype(int)
                             - dirty.render("苏E1500Q", "blue", np.random.default_rng(s))).mean()
                      for s in range(4)])
    assert change > 1.0, f"{name} at strength 1 barely changes the image"


def test_no_degradation_is_exactly_clean():
    clean = PlateGenerator(SynthConfig(degradations=no_degradations()), seed=0)
    a = clean.render("苏E1500Q", "blue", np.random.default_rng(5))
    b = clean.render("苏E1500Q", "blue", np.random.default_rng(5))
    assert np.array_equal(a, b)


def test_label_noise_modes_and_rate():
    gen = _gen(seed=2, label_noise=0.5, label_noise_truncate=0.3)
    rng = np.random.default_rng(0)
    samples = [gen.sample_record(rng) for _ in range(300)]
    noisy = [s for s in samples if s.noise]
    assert 0.4 < len(noisy) / len(samples) < 0.6
    subs = [s for s in noisy if s.noise == "substitute"]
    truncs = [s for s in noisy if s.noise == "truncate"]
    assert 0.15 < len(truncs) / len(noisy) < 0.45
    for s in subs:  # one wrong character, still a valid plate of its kind
        assert sum(a != b for a, b in zip(s.label, s.text)) == 1 and len(s.label) == len(s.text)
        assert P.is_valid(s.label, s.kind), (s.label, s.kind)
    assert all(s.label == s.text for s in truncs)  # truncation: the label keeps the full text
    assert all(s.label == s.text for s in samples if not s.noise)
    quiet = _gen(seed=2)
    assert not any(quiet.sample_record(rng).noise for _ in range(50))  # noise off by default


def test_province_controls():
    rng = np.random.default_rng(0)
    only = _gen(provinces={"皖": 1.0}, kinds={"blue": 1})
    assert {only.sample_record(rng).label[0] for _ in range(20)} == {"皖"}
    bal = SynthConfig(provinces="balanced").province_p()
    traffic = SynthConfig(provinces="traffic").province_p()
    assert np.allclose(bal, 1 / 31) and abs(traffic.sum() - 1) < 1e-9
    assert traffic.max() / traffic.min() > 10  # imbalanced like real traffic


def test_font_subset_is_small_licensed_and_complete():
    from fontTools.ttLib import TTFont

    assert (FONT_DIR / "OFL.txt").read_text().count("SIL OPEN FONT LICENSE Version 1.1") == 1
    for path in FONT_DIR.glob("LPRPlateSans*.otf"):
        assert path.stat().st_size < 300_000, path
        cmap = TTFont(str(path)).getBestCmap()
        missing = [c for c in P.CHARS if ord(c) not in cmap]
        assert not missing, f"{path.name} lacks {missing}"
    assert FONT_PATH.is_file()


def test_montage_figure():
    import matplotlib

    matplotlib.use("Agg")
    from lpr_lib.synth.montage import plate_grid, synth_vs_real

    gen = _gen()
    imgs = [img for img, _ in gen.stream(3)]
    fig = synth_vs_real({"blue": imgs[:2], "yellow": imgs[2:]}, real=imgs[:2], per_row=2)
    assert len(fig.axes) == 6  # 2 kinds + 1 real row, 2 columns
    assert plate_grid(imgs, ["a", "b", "c"], ncols=2).axes[0].get_title() == "a"


def test_data_samples_match_their_labels(data_samples):
    lines = (data_samples / "labels.txt").read_text(encoding="utf-8").splitlines()
    assert 50 <= len(lines) <= 150
    kinds = set()
    for line in lines:
        name, *idx = line.split(" ")
        text = P.labels_to_text([int(i) for i in idx], check=True)
        assert P.text_from_filename(name) == text and (data_samples / name).is_file()
        kinds.add(P.infer_kind(text))
    assert kinds == set(P.infer_kind(P.sample_text(k, np.random.default_rng(0))) for k in P.KINDS)


def test_image_stats_measure_what_they_say():
    from lpr_lib.synth.stats import compare, image_stats

    flat = np.full((24, 94, 3), 128, np.uint8)
    rng = np.random.default_rng(0)
    busy = rng.integers(0, 256, (24, 94, 3), dtype=np.uint8)
    red = np.zeros((24, 94, 3), np.uint8)
    red[..., 0] = 255
    st = image_stats([flat, busy, red])
    assert st["contrast"][0] == 0 and st["sharpness"][0] == 0
    assert st["contrast"][1] > 0.1 and st["sharpness"][1] > st["sharpness"][0]
    assert st["saturation"][0] == 0 and st["saturation"][2] == 1 and st["brightness"][2] == 1
    q = compare({"a": st})["a"]["brightness"]
    assert len(q) == 3 and q[0] <= q[1] <= q[2]
    with pytest.raises(ValueError, match="uint8 RGB"):
        image_stats([np.zeros((4, 4))])


def test_half_of_the_crops_are_tight():
    """Tight crops cut the plate's frame: the plate's paint reaches the top or bottom row."""
    import numpy as np

    from lpr_lib.synth import degrade

    rng = np.random.default_rng(0)
    plate = np.ones((140, 440, 3), np.float32)  # a white plate on a black car
    alpha = np.ones((140, 440), np.float32)
    black = np.zeros((32, 96, 3), np.float32)
    tight = 0
    for _ in range(200):
        out = degrade.place(plate, alpha, (32, 96), rng, jitter=1.0, background=black)
        tight += out[0, 48].mean() > 0.99 and out[-1, 48].mean() > 0.99
    assert 70 < tight < 130


# --- lettering -----------------------------------------------------------------------------
def test_lettering_round_trips_and_reaches_the_plates(tmp_path):
    from lpr_lib.synth import Lettering

    let = Lettering(fonts={"barlow": 2, "roboto": 1}, latin_width=[0.9, 0.95], plain_one=1.0,
                    cjk_scale=(0.7, 0.8), cjk_fonts={"light": 1}, weight=(0.5, 0.6))
    cfg = SynthConfig(size=(32, 96), lettering=let)
    assert SynthConfig.from_dict(cfg.to_dict()) == cfg
    assert SynthConfig.from_yaml(cfg.to_yaml()) == cfg
    assert cfg.to_dict()["lettering"]["latin_width"] == [0.9, 0.95]
    assert SynthConfig(lettering={"plain_one": 0.0}).lettering == Lettering(plain_one=0.0)
    style = let.draw(np.random.default_rng(0))
    assert style["font"] in ("barlow", "roboto") and style["plain_one"] is True
    assert 0.9 <= style["latin_width"] <= 0.95 and 0.7 <= style["cjk_scale"] <= 0.8
    assert style["cjk_font"] == "light" and 0.5 <= style["weight"] <= 0.6
    # the style reaches the pixels: the same plate drawn in two letterings differs
    a = PlateGenerator(SynthConfig(degradations=no_degradations()), seed=0)
    b = PlateGenerator(SynthConfig(degradations=no_degradations(),
                                   lettering=Lettering.legacy()), seed=0)
    rng = lambda: np.random.default_rng(5)  # noqa: E731
    assert not np.array_equal(a.render("京N11111", "blue", rng()),
                              b.render("京N11111", "blue", rng()))


@pytest.mark.parametrize("bad,fragment", [
    (dict(fonts={"comic": 1}), "unknown lettering font"),
    (dict(fonts={}), "must map font names"),
    (dict(fonts={"noto": 0}), "positive sum"),
    (dict(cjk_fonts={"kai": 1}), "unknown lettering cjk_fonts"),
    (dict(cjk_fonts={"bold": True}), "non-negative weights"),
    (dict(latin_width=(1.0, 0.9)), "latin_width must be a range"),
    (dict(cjk_scale=0.8), "cjk_scale must be a pair"),
    (dict(weight=(0.0, 0.5)), "weight must be a range inside"),
    (dict(plain_one=1.5), "plain_one must be a number in"),
])
def test_lettering_errors_name_the_setting(bad, fragment):
    from lpr_lib.synth import Lettering

    with pytest.raises(ValueError, match=fragment):
        Lettering(**bad)
    with pytest.raises(ValueError, match=fragment):
        SynthConfig(lettering=bad)
    with pytest.raises(ValueError, match="unknown lettering field"):
        SynthConfig(lettering={"italic": True})


def test_plain_one_is_a_centred_bar_and_other_glyphs_fill_their_share():
    from lpr_lib.synth.render import BAR_WIDTH, LATIN_FONTS, bar, glyph, styled_glyph

    g = bar(45, 90)
    assert g.shape == (90, 45)
    cols = g.sum(0) / 90
    assert abs(cols.sum() - BAR_WIDTH * 45) < 1e-4  # exactly the bar's width of ink
    ink = np.nonzero(cols)[0]
    assert abs((ink[0] + ink[-1]) / 2 - 22) <= 1  # centred
    style = dict(font="roboto", latin_width=0.95, plain_one=True, cjk_scale=0.8,
                 cjk_font="regular", weight=0.5)
    assert np.array_equal(styled_glyph("1", 45, 90, style), g)
    assert not np.array_equal(styled_glyph("1", 45, 90, dict(style, plain_one=False)), g)
    # a Chinese character at 0.8 of its box leaves an empty margin all round
    cjk = styled_glyph("皖", 45, 90, style)
    assert cjk[:8].max() == 0 and cjk[-8:].max() == 0 and cjk[:, :4].max() == 0
    # the widest digit of every face fills latin_width of the box
    for name, path in LATIN_FONTS.items():
        widest = max(np.ptp(np.nonzero(glyph(d, 45, 90, str(path), latin_width=0.9).sum(0))[0])
                     + 1 for d in P.DIGITS)
        assert abs(widest - 0.9 * 45) <= 1.5, name


def test_faces_have_every_plate_glyph_they_draw():
    from fontTools.ttLib import TTFont

    from lpr_lib.synth.render import CJK_FONTS, LATIN_FONTS

    for chars, faces in ((P.DIGITS + P.LETTERS, LATIN_FONTS),
                         (P.PROVINCES + P.SPECIALS, CJK_FONTS)):
        for name, path in faces.items():
            cmap = TTFont(str(path)).getBestCmap()
            missing = [c for c in chars if ord(c) not in cmap]
            assert not missing, f"{name} ({path.name}) lacks {missing}"
            assert path.stat().st_size < 300_000
    text = (FONT_DIR / "OFL.txt").read_text()
    assert "Barlow" in text and "Roboto Condensed" in text and "Noto Sans SC Light" in text


def test_light_chinese_face_draws_thinner_strokes():
    from lpr_lib.synth.render import CJK_FONTS, glyph

    ink = {name: glyph("皖", 45, 90, str(path)).sum() for name, path in CJK_FONTS.items()}
    assert ink["light"] < ink["regular"] < ink["bold"], ink
