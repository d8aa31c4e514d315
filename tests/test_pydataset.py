"""The TensorFlow-free input path (lpr_lib.data.pydataset) and the NumPy augmentation
(lpr_lib.data.augmentation): the PyDataset serves the tf.data pipeline's batches (the same labels
in the same order, the same whitened images), shuffles anew every epoch from its seed, mixes
its sources at their weights, and neither module needs TensorFlow."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from lpr_lib import data
from lpr_lib.data.augmentation import AugmentConfig, augment
from lpr_lib.data.pydataset import (PinEpoch, PlateDataset, make_pydataset, mixed_pydataset,
                                    preprocess_numpy)
from lpr_lib.plates import text_to_labels

# the fixtures of the tf.data pipeline's tests (used by name, through request)
from test_data import (PLATES, ccpd_set, label_file_set, named_set, plate_image,  # noqa: F401
                       tsv_set, write_images)

ROOT = Path(__file__).resolve().parent.parent
# TensorFlow decodes JPEG with its fast integer IDCT, Pillow with the accurate one: the same
# file decodes a few grey levels apart (PNG files and CCPD plates decode identically)
JPEG_TOLERANCE = 8 / 255


def _all(ds: PlateDataset):
    batches = [ds[i] for i in range(len(ds))]
    return (np.concatenate([x for x, _ in batches]),
            {k: np.concatenate([y[k] for _, y in batches]) for k in batches[0][1]})


def _rows_dataset(n=10, **kw) -> PlateDataset:
    """A dataset whose labels' first entry is the row number: which images a batch holds."""
    images = np.repeat(np.arange(n, dtype=np.uint8)[:, None, None, None], 16, 1)
    images = np.repeat(np.repeat(images, 48, 2), 3, 3)
    labels = np.full((n, 8), -1, np.int32)
    labels[:, 0] = np.arange(n)
    return PlateDataset([(images, labels)], whiten=False, **kw)


# ------------------------------------------------------------------------------------ augment

def test_augment_and_pydataset_need_no_tensorflow():
    code = textwrap.dedent("""
        import sys
        sys.modules["tensorflow"] = None  # `import tensorflow` fails from here on
        import numpy as np
        from lpr_lib.data.augmentation import AugmentConfig, augment
        from lpr_lib import data
        assert data.augment is augment and data.AugmentConfig is AugmentConfig
        out = data.augment(np.zeros((2, 16, 48, 3), np.uint8), (1, 2))
        assert out.dtype == np.float32 and out.shape == (2, 16, 48, 3)
        assert "keras" not in sys.modules  # the augmentation needs neither
        import os
        os.environ["KERAS_BACKEND"] = "jax"
        from lpr_lib.data.pydataset import PlateDataset
        labels = np.full((4, 8), 1, np.int32)
        x, y = PlateDataset([(np.zeros((4, 16, 48, 3), np.uint8), labels)], batch_size=2,
                            augment=True)[1]
        assert x.shape == (2, 16, 48, 3) and y["chars"].shape == (2, 8)
        try:
            data.make_dataset
        except ImportError as err:
            assert "needs TensorFlow" in str(err) and "make_pydataset" in str(err), err
        else:
            raise AssertionError("make_dataset without TensorFlow")
    """)
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "KERAS_BACKEND": "jax"})
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_augment_seeds_single_images_and_bad_input():
    img = np.asarray(plate_image("皖AY766D").resize((96, 32)))
    batch = np.stack([img, img[::-1]])
    for seed in (3, (3, 4), [3, -4], np.array([3, 4], np.int64)):
        np.testing.assert_array_equal(augment(batch, seed), augment(batch, seed))
    assert np.abs(augment(batch, (3, 4)) - augment(batch, (3, 5))).mean() > 1e-3
    # one image is a batch of one: the same draws
    np.testing.assert_array_equal(augment(img, 7), augment(img[None], 7)[0])
    # float input in [0, 1] is the same image as uint8
    np.testing.assert_allclose(augment(img / 255.0, 7), augment(img, 7), atol=1e-5)
    with pytest.raises(ValueError, match="fill_mode"):
        augment(img, 1, AugmentConfig(affine_prob=1.0, fill_mode="mirror"))
    with pytest.raises(ValueError, match="shape"):
        augment(img[..., :1], 1)
    with pytest.raises(ValueError, match="seed"):
        augment(img, 1.5)


def test_switching_one_augmentation_keeps_the_others_draws():
    """Each augmentation draws from its own stream: switching one on (at a strength too small
    to see) leaves what the others do as it was."""
    img = np.asarray(plate_image("苏E1500Q").resize((96, 32)))
    batch = np.stack([img] * 6)
    base = AugmentConfig(noise_prob=0.0, affine_prob=0.0)  # the rest as by default
    out = augment(batch, 5, base)
    for change in ({"shear_y": 1e-7}, {"noise_prob": 1.0, "noise_std": 1e-7},
                   {"affine_prob": 1.0, "rotation_deg": 0.0, "shear": 0.0, "scale": (1.0, 1.0),
                    "shift": (0.0, 0.0), "crop_jitter": 0.0}):
        other = augment(batch, 5, AugmentConfig(**{**base.to_dict(), **change}))
        assert np.abs(other - out).mean() < 1e-3, change


def test_constant_fill_mode_fills_with_black():
    img = np.full((32, 96, 3), 255, np.uint8)
    cfg = AugmentConfig(**{**AugmentConfig.none().to_dict(), "affine_prob": 1.0,
                           "scale": (0.5, 0.5), "fill_mode": "constant"})
    out = augment(img, 1, cfg)
    assert out[0, 0].max() == 0 and out[16, 48].min() == 1.0
    edge = augment(img, 1, AugmentConfig(**{**cfg.to_dict(), "fill_mode": "nearest"}))
    assert edge.min() == 1.0  # the border replicated


# ------------------------------------------------------------------------------------ preprocess

@pytest.mark.parametrize("shape,size", [((36, 136), (48, 144)), ((300, 1000), (32, 96)),
                                        ((20, 50), (48, 144)), ((48, 144), (48, 144)),
                                        ((101, 97), (33, 95))])
def test_numpy_preprocess_is_tf_preprocess(shape, size):
    rng = np.random.default_rng(sum(shape))
    img = (rng.random((*shape, 3)) * 255).astype(np.uint8)
    for whiten in (True, False):
        want = data.preprocess(img, size, whiten).numpy()
        got = preprocess_numpy(img, size, whiten)
        assert got.dtype == np.float32 and got.shape == (*size, 3)
        np.testing.assert_allclose(got, want, atol=1e-4)
    batch = np.stack([img, img[::-1]]).astype(np.float32) / 255
    np.testing.assert_allclose(preprocess_numpy(batch, size), data.preprocess(batch, size),
                               atol=1e-4)


# ------------------------------------------------------------------------------------ datasets

@pytest.mark.parametrize("fixture", ["label_file_set", "tsv_set", "named_set", "ccpd_set"])
def test_pydataset_serves_the_pipelines_batches(fixture, request):
    folder = request.getfixturevalue(fixture)
    exact = fixture in ("label_file_set", "ccpd_set")  # PNG files; CCPD plates warped alike
    for whiten in (False, True):
        ds = data.make_dataset(folder, batch_size=2, shuffle=False, whiten=whiten)
        want_x = np.concatenate([x.numpy() for x, _ in ds])
        want_y = np.concatenate([y.numpy() for _, y in ds])
        py = make_pydataset(folder, batch_size=2, shuffle=False, whiten=whiten)
        assert len(py) == -(-len(want_y) // 2)
        got_x, got_y = _all(py)
        assert got_x.dtype == np.float32 and got_x.shape == want_x.shape
        assert got_y["chars"].dtype == np.int32 and got_y["length"].dtype == np.int32
        np.testing.assert_array_equal(got_y["chars"], want_y)
        np.testing.assert_array_equal(got_y["length"], (want_y[:, 7] >= 0).astype(np.int32))
        if exact:
            np.testing.assert_allclose(got_x, want_x, atol=1e-4)
        elif not whiten:
            assert np.abs(got_x - want_x).max() <= JPEG_TOLERANCE
        else:
            assert np.abs(got_x - want_x).mean() < 0.02


def test_pydataset_shuffles_every_epoch_from_its_seed():
    ds = _rows_dataset(batch_size=4, seed=1)
    assert len(ds) == 3  # 10 rows: 4 + 4 + 2

    def epoch(d):
        rows = _all(d)[1]["chars"][:, 0]
        d.on_epoch_end()
        return rows

    first, second = epoch(ds), epoch(ds)
    assert sorted(first) == sorted(second) == list(range(10))  # each row once an epoch
    assert not np.array_equal(first, second)  # in a new order
    again = _rows_dataset(batch_size=4, seed=1)
    np.testing.assert_array_equal(epoch(again), first)
    np.testing.assert_array_equal(epoch(again), second)
    assert not np.array_equal(epoch(_rows_dataset(batch_size=4, seed=2)), first)
    np.testing.assert_array_equal(epoch(_rows_dataset(batch_size=4, shuffle=False)),
                                  np.arange(10))
    assert len(_rows_dataset(batch_size=4, drop_remainder=True)) == 2


def test_repeating_pydataset_walks_through_whole_passes():
    ds = _rows_dataset(batch_size=4, seed=3, repeat=True, steps=5)  # 20 images an epoch
    rows = []
    for _ in range(2):
        rows.append(_all(ds)[1]["chars"][:, 0])
        ds.on_epoch_end()
    rows = np.concatenate(rows)
    for p in range(4):  # 40 images = 4 passes, each a permutation of the 10 rows
        assert sorted(rows[10 * p:10 * (p + 1)]) == list(range(10))
    resumed = _rows_dataset(batch_size=4, seed=3, repeat=True, steps=5)
    resumed.on_epoch_end()  # Keras calls it once before the first epoch: PinEpoch corrects
    resumed.on_epoch_end()
    PinEpoch(resumed).on_epoch_begin(1)  # a run resumed at epoch 1 serves epoch 1's batches
    np.testing.assert_array_equal(_all(resumed)[1]["chars"][:, 0], rows[20:])


def test_pydataset_augments_each_batch_anew():
    ds = _rows_dataset(batch_size=5, seed=4, augment=True, shuffle=False)
    first = ds[0][0]
    np.testing.assert_array_equal(ds[0][0], first)  # a function of (seed, epoch, index)
    ds.on_epoch_end()
    assert np.abs(ds[0][0] - first).max() > 1e-2  # the same images, augmented anew
    plain = _rows_dataset(batch_size=5, seed=4, shuffle=False)[0][0]
    assert np.abs(plain - first).max() > 1e-2
    np.testing.assert_allclose(plain[:, 0, 0, 0], np.arange(5) / 255, atol=1e-6)


def test_mixed_pydataset_draws_sources_at_their_weights(request, tmp_path):
    """Weights 3:1 -> about 75% of the images from the first source (labels tell them
    apart); every source goes round its images evenly; seeded."""
    plates = request.getfixturevalue("tsv_set")
    first = {tuple(text_to_labels(t)) for t in PLATES}
    other = tmp_path / "other"
    write_images(other, [("京N84E28.jpg", "京N84E28"), ("津QW3691.jpg", "津QW3691")])

    def stream(seed):
        ds = mixed_pydataset([(plates, 3.0), (other, 1.0)], batch_size=50, image_size=(24, 72),
                             seed=seed, steps=10)
        labels = []
        for _ in range(2):
            labels.append(_all(ds)[1]["chars"])
            ds.on_epoch_end()
        return np.concatenate(labels)

    labels = stream(5)
    share = np.mean([tuple(row) in first for row in labels])
    assert labels.shape == (1000, 8) and 0.70 < share < 0.80  # binomial sd ~1.4%
    counts = {}
    for row in map(tuple, labels):
        counts[row] = counts.get(row, 0) + 1
    for group in (first, set(counts) - first):
        seen = [counts[r] for r in group]
        assert max(seen) - min(seen) <= 1, seen  # shuffled passes: each image in turn
    np.testing.assert_array_equal(labels, stream(5))
    assert not np.array_equal(labels, stream(6))
    with pytest.raises(ValueError, match="weight"):
        mixed_pydataset([(plates, 0.0)], image_size=(24, 72))


def test_pydataset_kind_targets_and_errors(request, monkeypatch, tmp_path):
    from lpr_lib.plates import kind_indices

    plates = request.getfixturevalue("tsv_set")

    ds = make_pydataset(plates, batch_size=5, image_size=(24, 72), shuffle=False,
                        kind_head=True)
    _, y = ds[0]
    np.testing.assert_array_equal(y["kind"], kind_indices(y["chars"]))
    with pytest.raises(ValueError, match="no full batch"):
        make_pydataset(plates, batch_size=50, image_size=(24, 72), drop_remainder=True)
    with pytest.raises(ValueError, match="weights"):
        PlateDataset([(np.zeros((2, 16, 48, 3), np.uint8), np.zeros((2, 8), np.int32))], [-1])
    # a TFRecord file without TensorFlow: an error that says so, naming the file
    record = tmp_path / "plates.tfrecord"
    data.write_tfrecord(data.load_samples(plates), record)
    monkeypatch.setitem(sys.modules, "tensorflow", None)
    monkeypatch.delitem(sys.modules, "lpr_lib.data.tfrecord")
    with pytest.raises(ImportError, match=r"plates\.tfrecord: reading TFRecord files needs "
                                          "TensorFlow"):
        make_pydataset(record)
