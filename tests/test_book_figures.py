"""save_fig leaves the committed figures alone unless what they show changed (issue 29: two
builds of the book leave the same tracked files)."""
from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import matplotlib.pyplot as plt  # noqa: E402
from PIL import Image  # noqa: E402

from lpr_lib import book  # noqa: E402


def _fig(y):
    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.plot([0, 1, 2], y)
    return fig


def test_same_pixels_are_not_written_again_and_carry_no_version(tmp_path, monkeypatch):
    monkeypatch.setattr(book, "figures_dir", lambda: tmp_path)
    assert book.save_fig(_fig([0, 1, 0]), "f") == "f.png"
    path = tmp_path / "f.png"
    assert "Software" not in Image.open(path).info
    # the same picture, stored as other bytes (another encoder): left as it is
    image = Image.open(path)
    image.save(path, compress_level=1, dpi=image.info["dpi"])
    before = path.read_bytes()
    book.save_fig(_fig([0, 1, 0]), "f")
    assert path.read_bytes() == before
    # another picture: written
    book.save_fig(_fig([1, 0, 1]), "f")
    assert path.read_bytes() != before
    assert not list(tmp_path.glob("*.tmp"))
    plt.close("all")
