"""Helpers the book's notebooks share: one setup call and a ``save_fig``.

Every chapter starts with::

    import os; os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from lpr_lib.book import setup, save_fig
    QUICK = setup()          # seeds, plot style; True under LPR_QUICK=1 (CI)
"""
from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from lpr_lib.repro import DEFAULT_SEED, REPO_ROOT, quick_mode, set_seed  # noqa: E402

FIGURES = REPO_ROOT / "book" / "figures"


def setup(seed: int = DEFAULT_SEED) -> bool:
    """Seed everything, choose a plot style with CJK glyphs, and return quick mode.

    Keras and TensorFlow are seeded when the chapter imported them before calling ``setup``
    (importing TensorFlow takes seconds, which a chapter that only loads results and draws
    does without); Python and NumPy always are."""
    import sys

    import matplotlib

    matplotlib.use("Agg") if not os.environ.get("MPLBACKEND") else None
    import matplotlib.pyplot as plt

    set_seed(seed, keras="keras" in sys.modules or "tensorflow" in sys.modules)
    plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 120, "axes.grid": True,
                         "grid.alpha": 0.3, "axes.unicode_minus": False})
    _use_cjk_font()
    return quick_mode()


def _use_cjk_font() -> None:
    """Let matplotlib draw plate characters: register the package's CJK font subset."""
    from matplotlib import font_manager, rcParams

    fonts = Path(__file__).parent / "synth" / "fonts"
    for path in sorted(fonts.glob("*.otf")) + sorted(fonts.glob("*.ttf")):
        font_manager.fontManager.addfont(str(path))
        name = font_manager.FontProperties(fname=str(path)).get_name()
        # DejaVu first (Greek, minus signs), the CJK subset for the plate characters:
        # matplotlib falls back glyph by glyph along this list.
        rcParams["font.family"] = ["DejaVu Sans", name]
        break


def figures_dir() -> Path:
    """Where figures go: ``book/figures`` in a full run (the book links to them); in quick mode
    (``LPR_QUICK=1``, the tests) a temporary folder, so that a test run never changes the
    committed figures."""
    if quick_mode():
        import tempfile

        return Path(tempfile.gettempdir()) / "lpr_quick_figures"
    return FIGURES


def reflow(fig, ncols: int = 2, panel: tuple[float, float] = (5.0, 4.0),
           legend_fontsize: float | None = None):
    """Lay a figure's panels out ``ncols`` to a row (each ``panel`` inches), so that a row of
    many panels stays readable at the page's width. A legend of the first panel moves into the
    last row's empty cell when there is one (at ``legend_fontsize``). Returns ``fig``."""
    axes = list(fig.axes)
    rows = -(-len(axes) // ncols)
    grid = fig.add_gridspec(rows, ncols)
    for ax, spec in zip(axes, grid):
        ax.set_subplotspec(spec)
    fig.set_size_inches(panel[0] * ncols, panel[1] * rows)
    legend = axes[0].get_legend() if axes else None
    if legend is not None and len(axes) < rows * ncols:
        handles, labels = axes[0].get_legend_handles_labels()
        legend.remove()
        spare = fig.add_subplot(grid[len(axes)])
        spare.set_axis_off()
        spare.legend(handles, labels, loc="center", fontsize=legend_fontsize)
    elif legend is not None and legend_fontsize:
        for text in legend.get_texts():
            text.set_fontsize(legend_fontsize)
    return fig


def save_fig(fig, name: str, tight: bool = True) -> str:
    """Save ``fig`` as ``<figures_dir()>/<name>.png`` and return its file name (no machine
    path in a notebook's output).

    The committed figures change only when what they show changes: the PNG carries no
    software version, and a figure whose pixels equal those of the file already there is not
    written again (PNG encoders may compress the same pixels into other bytes), so that two
    builds of the book leave the same tracked files."""
    import io

    folder = figures_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    if tight:
        fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    png = buffer.getvalue()
    if not (path.is_file() and _same_picture(path.read_bytes(), png)):
        tmp = path.with_suffix(".png.tmp")
        tmp.write_bytes(png)
        tmp.replace(path)
    return path.name


def _same_picture(old: bytes, new: bytes) -> bool:
    """Whether two PNG files hold the same pixels at the same size and resolution."""
    if old == new:
        return True
    import io

    import numpy as np
    from PIL import Image

    try:
        a, b = Image.open(io.BytesIO(old)), Image.open(io.BytesIO(new))
        return (a.size == b.size and a.info.get("dpi") == b.info.get("dpi")
                and np.array_equal(np.asarray(a.convert("RGBA")), np.asarray(b.convert("RGBA"))))
    except OSError:  # a damaged file is replaced
        return False
