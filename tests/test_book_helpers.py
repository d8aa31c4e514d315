"""lpr_lib.book's figure helpers."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from lpr_lib.book import reflow  # noqa: E402


def test_reflow_puts_the_panels_two_a_row_and_the_legend_in_the_spare_cell():
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for ax in axes:
        ax.plot([0, 1], [0, 1], label="a")
    axes[0].legend(fontsize=8)
    reflow(fig, ncols=2, panel=(5, 4), legend_fontsize=12)
    assert tuple(fig.get_size_inches()) == (10, 8)
    spans = [ax.get_subplotspec().get_geometry()[:2] for ax in axes]
    assert spans == [(2, 2)] * 3
    assert axes[0].get_legend() is None
    spare = fig.axes[-1]
    assert spare.get_legend() is not None and not spare.axison
    assert spare.get_legend().get_texts()[0].get_fontsize() == 12
    plt.close(fig)


def test_reflow_keeps_a_full_grid_and_resizes_its_legend():
    fig, axes = plt.subplots(1, 2)
    axes[0].plot([0, 1], label="a")
    axes[0].legend(fontsize=8)
    reflow(fig, ncols=2, legend_fontsize=11)
    assert len(fig.axes) == 2
    assert axes[0].get_legend().get_texts()[0].get_fontsize() == 11
    plt.close(fig)
