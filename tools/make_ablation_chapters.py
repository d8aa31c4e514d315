"""Writes the technique chapters built on the ablation table's runs (book/11-18) and the table's
own chapter: their source, reviewable as text.

    python -m lpr_lib ablate                     # the runs and results/ablation/book/
    python tools/make_ablation_chapters.py       # write the notebooks (no outputs)
    python tools/run_chapter.py 11 12 ... 18     # execute them (they only read the results)

The prose quotes the results (through lpr_lib.ablation_report) when the script writes the
chapters, so that the text, the tables and the figures tell the same numbers.
"""
import sys
from pathlib import Path

import pandas as pd

from notebook_cells import code, figure, md, notebook, write

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lpr_lib import ablation_report as rep  # noqa: E402
from lpr_lib.ablation import ROWS, row_config  # noqa: E402

BOOK = ROOT / "book"
RESULTS = rep.load_results("book")
LONG = rep.load_results("long")  # the convergence check: 4x the book's steps
RUNS, SUMMARY = rep.summary_lines(RESULTS)
LONG_ROWS = ("v2", "v3", "v4.0", "v4-radam", "v6", "final")
LINES = {(s["data"], s["row"]): s for s in SUMMARY}

SETUP = """import os; os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import matplotlib.pyplot as plt
from lpr_lib.book import setup, save_fig
from lpr_lib import ablation_report as rep
QUICK = setup()
results = rep.load_results("book")      # one result file a row, data setting and seed
runs, summary = rep.summary_lines(results)"""


def pct(row, data="mixed", metric="real_test"):
    return rep.cell(LINES.get((data, row)), metric)


def versus(row, base, data, metric="real_test", what="of the real test plates"):
    """One sentence: the row against the row it changes, with the verdict."""
    a, b = LINES.get((data, row)), LINES.get((data, base))
    if not a or not b or a.get(f"{metric}_mean") is None or b.get(f"{metric}_mean") is None:
        return (f"{rep.LABELS[row]} against {rep.LABELS[base]} ({data} data): "
                "not measured yet.")
    verdict = rep.judge(a, b, metric)
    diff = 100 * verdict["diff"]
    judged = {"one seed": "from a single seed, so with no spread to judge it by",
              "larger than the spread": "larger than the spread of the seeds",
              "within the spread": "within the spread of the seeds: no difference this "
                                   "table can see"}[verdict["verdict"]]
    return (f"with {data} data, {rep.LABELS[row]} reads {pct(row, data, metric)}% {what}, "
            f"against {pct(base, data, metric)}% for {rep.LABELS[base]}: "
            f"{diff:+.1f} points, {judged}.")


ACCEPTED = ("of the real test plates accepted at the 99.9%-precision threshold chosen on "
            "validation (recall)")


ACCEPTED_85 = "of the real test plates accepted at 0.85 and right (recall)"


def on_synthetic(row, base):
    """:func:`versus` on the synthetic validation plates of the synthetic-only runs."""
    return versus(row, base, "synthetic", "synthetic_val", "of the synthetic validation plates")


def synth_val(results, row):
    """The mean share of synthetic validation plates ``row`` read in ``results`` (synthetic
    data, every seed there), or None."""
    r = [x for x in results if x["row"] == row and x["data"] == "synthetic"]
    return sum(x["synthetic_val"]["plate_accuracy"] for x in r) / len(r) if r else None


def long_versus(row, base, where="chapter 18's convergence check"):
    """A bullet on the convergence check (4x the steps, synthetic data, first seed), or ''."""
    a, b = synth_val(LONG, row), synth_val(LONG, base)
    if a is None or b is None:
        return ""
    a, b = 100 * a, 100 * b
    return (f"\n- with four times the steps ({where}, synthetic data, "
            f"first seed), {rep.LABELS[row]} reads {a:.1f}% of the synthetic validation "
            f"plates, against {b:.1f}% for {rep.LABELS[base]}: {a - b:+.1f} points.")


def setup_md(rows):
    cfg = row_config("v4.0", "synthetic", 2026)
    return md(
        "## The runs behind this chapter\n\n"
        "Every figure here comes from the runs of the ablation table (chapter 18): "
        f"{', '.join('`' + r + '`' for r in rows)}, each a config under `configs/ablation/` "
        "trained by `lpr ablate` at the book's size: ResNet-18 (or the row's backbone) at "
        f"width {cfg.model.width} on {cfg.data.image_size[0]}x{cfg.data.image_size[1]} crops, "
        f"{cfg.epochs} epochs of {cfg.steps_per_epoch} steps of {cfg.batch_size} plates, for "
        "two data settings: synthetic plates alone (*synthetic*) and synthetic plates mixed "
        "1:1 with real training crops (*mixed*), each with the seeds its table's *seeds* "
        "column counts. Each run's checkpoint is "
        "chosen on its validation split; the real test plates only measure. Figures are the "
        "mean ± the standard deviation over the seeds.")


def table_cell(rows, data, columns=None):
    cols = f", columns={tuple(columns)!r}" if columns else ""
    return code(f"rep.table_frame(summary, {tuple(rows)!r}, {data!r}{cols})")


def fig_cell(call, name):
    return code(f"fig = {call}\nsave_fig(fig, {name!r}); plt.close(fig)")


# ================================================================== 11 weight decay

def gamma_below(row, data="mixed"):
    """The share of |gamma| below 0.05 at the end of ``row``'s runs (mean of the seeds)."""
    shares = [r["trace"]["epochs"][-1]["gamma"]["below_0.05"] for r in RESULTS
              if r["row"] == row and r["data"] == data and r.get("trace")]
    return sum(shares) / len(shares) if shares else None


def gamma_text():
    free, l1 = gamma_below("v4.0"), gamma_below("v7")
    if free is None or l1 is None:
        return ""
    return (f"At the end of the book's budget, {100 * l1:.0f}% of v7's channels have "
            f"$|\\gamma| < 0.05$, against {100 * free:.0f}% of v4.0's (chapter 9's 12 epochs "
            "of the same penalty on the shipped reader left 38%).")

def weight_decay():
    return [
        md("# Weight decay: conv kernels and BatchNorm's gamma\n\n"
           "The seed's first change was the largest in its table: weight decay from 1e-6 to "
           "5e-4 took its plate accuracy from 0.76 to 0.86. This chapter looks at what decay "
           "does inside a network whose every convolution is followed by BatchNorm, and why "
           "the decay of the conv kernels and the decay of BatchNorm's $\\gamma$ are two "
           "different tools.\n\n"
           "**Decay on a kernel that BatchNorm follows does not shrink the output.** "
           "BatchNorm divides each channel by its standard deviation, so a kernel $w$ and "
           "$2w$ give the same output: the loss is scale-invariant in $w$. Its gradient is "
           "then orthogonal to $w$ and shrinks as $1/\\|w\\|$: a large kernel learns slowly. "
           "L2 decay $\\lambda \\|w\\|^2$ keeps $\\|w\\|$ small, and so keeps the *effective* "
           "learning rate $\\eta/\\|w\\|^2$ up (van Laarhoven 2017, *L2 Regularization versus "
           "Batch and Weight Normalization*). Without it, every step of plain gradient "
           "descent lengthens $w$ (an orthogonal step always does), and learning slows "
           "down as training goes on.\n\n"
           "**Decay on $\\gamma$ shrinks the output itself.** $\\gamma_c$ scales channel $c$ "
           "after normalisation: an L2 penalty on it quiets every channel a little, an L1 "
           "penalty switches some off entirely, which is what network slimming (chapter 9) "
           "needs. That is why `lpr_lib` keeps them apart: `model.conv_decay` (L2 on conv "
           "and dense kernels) and `model.bn_decay` with `model.bn_decay_type` (`l2` or "
           "`l1` on $\\gamma$)."),
        code(SETUP),
        setup_md(["baseline", "v1", "v4.0", "v7", "final"]),
        md("## The kernels' norm during training\n\n"
           "The baseline decays its kernels by 1e-6, v1 by 5e-4; nothing else differs. "
           "{numref}`fig-11-norms` follows the sum of the squared kernel weights of every "
           "conv and dense layer, epoch by epoch, and the norm of each layer's kernel at the "
           "end."),
        fig_cell('rep.plot_kernel_norms(results, ("baseline", "v1"), "synthetic")',
                 "11_norms"),
        figure("11_norms", "fig-11-norms",
               "Left: the sum of the squared kernel weights after each epoch (0: the "
               "initialisation) with conv decay 1e-6 (baseline) and 5e-4 (v1), synthetic "
               "data, one line a seed. Right: each layer's kernel norm after training, from "
               "the input (left) to the heads (right), first seed."),
        md("What decay does to the plates read:\n\n"
           f"- {on_synthetic('v1', 'baseline')}\n"
           f"- {versus('v1', 'baseline', 'synthetic')}\n"
           f"- {versus('v1', 'baseline', 'mixed')}"),
        table_cell(["baseline", "v1"], "synthetic"),
        table_cell(["baseline", "v1"], "mixed"),
        md("## BatchNorm's gamma with and without an L1 penalty\n\n"
           "v4.0 leaves $\\gamma$ free; v7 and the seed's final recipe add L1 1e-3 on it. "
           "{numref}`fig-11-gammas` shows the histogram of $|\\gamma|$ over all BatchNorm "
           "channels after each epoch."),
        fig_cell('rep.plot_gamma_histograms(results, ("v4.0", "v7", "final"), "mixed")',
                 "11_gammas"),
        figure("11_gammas", "fig-11-gammas",
               "The $|\\gamma|$ of every BatchNorm channel after each epoch (darker: earlier), "
               "mixed data, first seed: free (v4.0), and under an L1 penalty of 1e-3 (v7, "
               "and the seed's final recipe). The title gives the share of channels below "
               "0.05 at the end: the channels slimming can cut for free."),
        md("Without a penalty $\\gamma$ stays near its initial 1; under L1 a share of the "
           "channels goes to zero while the rest keep the signal. " + gamma_text() +
           " What it costs in plates read:\n\n"
           f"- {versus('v7', 'v4.0', 'mixed')} (v7 is also pruned by half and fine-tuned "
           "for one epoch; chapter 18)"),
    ]


# ================================================================== 12 whitening

def whitening():
    return [
        md("# Whitening: each crop to zero mean and unit variance\n\n"
           "Real plates are photographed at noon and at dusk, in a car park's shade and "
           "under its lamps. The characters' shapes do not change with the light; the "
           "pixel values do, by a gain (brightness) and an offset, and by a contrast. "
           "*Whitening* removes both from every crop before the network sees it: "
           "$x' = (x - \\mu) / \\max(\\sigma, 1/\\sqrt{N})$ with the crop's own mean "
           "$\\mu$ and standard deviation $\\sigma$ over its $N$ values "
           "(`tf.image.per_image_standardization`, `data.whiten` in the config). Any "
           "change $x \\mapsto a x + b$ with $a > 0$ gives the same $x'$, up to clipping: "
           "the network no longer has to learn that a dark plate is the same plate."),
        code(SETUP + "\nfrom lpr_lib import data\nfrom lpr_lib.data import viz\n"
                     "from lpr_lib.data.preprocessing import decode_image\n"
                     "import tensorflow as tf"),
        code("samples = data.load_samples('../data_samples')[:5]\n"
             "images = [decode_image(tf.io.read_file(str(s.path)), (48, 144)).numpy()\n"
             "          for s in samples]\n"
             "dark = [(i * 0.45).astype('uint8') for i in images[:2]]\n"
             "fig = viz.whitening_figure(images[:3] + dark,\n"
             "                           [s.text for s in samples[:3]] +\n"
             "                           [s.text + ' dark' for s in samples[:2]])\n"
             "save_fig(fig, '12_whitening'); plt.close(fig)"),
        figure("12_whitening", "fig-12-whitening",
               "Top: three synthetic plates and two of them darkened to 45%, as the model "
               "would get them without whitening; bottom: the same crops whitened (shown "
               "rescaled). Right: the pixel histograms before and after; after whitening "
               "every crop has mean 0 and standard deviation 1, and a darkened plate looks "
               "like its original."),
        setup_md(["v1", "v2"]),
        md("## Accuracy under a change of light\n\n"
           "v1 reads raw pixels in [0, 1]; v2 whitens them; nothing else differs. "
           "{numref}`fig-12-lighting` shows both trained models on the synthetic validation "
           "plates, changed before preprocessing: darker (gain 0.5, 0.75), brighter (1.4), "
           "with less contrast and with more."),
        fig_cell('rep.plot_lighting(results, ("v1", "v2"), "synthetic")', "12_lighting"),
        figure("12_lighting", "fig-12-lighting",
               "Plates read under lighting changes, without whitening (v1) and with it "
               "(v2), synthetic data, mean of the seeds; 1,024 synthetic validation plates, "
               "each change applied to the image as $x \\mapsto$ clip$(0.5 + (a x - 0.5) c)$ "
               "before preprocessing."),
        md("What whitening does to the plates read:\n\n"
           f"- {on_synthetic('v2', 'v1')}\n"
           f"- {versus('v2', 'v1', 'synthetic')}\n"
           f"- {versus('v2', 'v1', 'mixed')}"),
        table_cell(["v1", "v2"], "synthetic"),
        table_cell(["v1", "v2"], "mixed"),
    ]


# ================================================================== 13 augmentation

def augmentation():
    return [
        md("# Augmentation: the plates the training set does not have\n\n"
           "A training set shows each plate once, framed one way. Augmentation shows it "
           "again, moved a little, rotated, blurred, noisier, darker, with another cast: "
           "each epoch a new copy, so that the network learns what stays the same. The "
           "library's augmentation (`lpr_lib.data.augmentation`, the `data.augment` config; "
           "chapter 3 describes each part) works on whole batches in NumPy and OpenCV."),
        code(SETUP + "\nfrom lpr_lib import data\nfrom lpr_lib.data import viz\n"
                     "from lpr_lib.data.preprocessing import decode_image\n"
                     "import tensorflow as tf"),
        code("sample = data.load_samples('../data_samples')[0]\n"
             "image = decode_image(tf.io.read_file(str(sample.path)), (48, 144)).numpy()\n"
             "fig = viz.augmentation_grid(image, n=12)\n"
             "save_fig(fig, '13_montage'); plt.close(fig)"),
        figure("13_montage", "fig-13-montage",
               "A synthetic plate (original) and eleven augmented copies with the default "
               "augmentation, each with its own seed: what the network sees of one plate "
               "over eleven epochs."),
        setup_md(["v2", "v3"]),
        md("## Its effect on real plates\n\n"
           "v2 trains on the plates as rendered (or as photographed), v3 on augmented "
           "copies; nothing else differs. Augmentation is the seed's second-largest step "
           "(0.87 to 0.95). It also makes every epoch harder to fit: a network that sees new "
           "copies each time needs more steps to reach the same training accuracy, so in a "
           "short budget its cost shows as well as its benefit. The column *last epoch's "
           "gain* of the tables says how far each run was from done.\n\n"
           f"- {versus('v3', 'v2', 'synthetic')}\n"
           f"- {versus('v3', 'v2', 'mixed')}\n"
           f"- {on_synthetic('v3', 'v2')}" + long_versus("v3", "v2")),
        fig_cell('rep.plot_bars(summary, "real_test", rows=("v2", "v3"), '
                 'title="real test plates read")', "13_effect"),
        figure("13_effect", "fig-13-effect",
               "Real test plates read without augmentation (v2) and with it (v3), for both "
               "data settings; error bars: the standard deviation over the seeds."),
        table_cell(["v2", "v3"], "synthetic", ["synthetic_val", "real_test", "kinds_test",
                                               "last_epoch_gain"]),
        table_cell(["v2", "v3"], "mixed", ["synthetic_val", "real_test", "kinds_test",
                                           "last_epoch_gain"]),
    ]


# ================================================================== 14 warmup and RAdam

def warmup():
    return [
        md("# Warm-up and RAdam on plates\n\n"
           "Adam divides each step by a running estimate of the gradient's second moment, "
           "$\\sqrt{\\hat v_t}$. In the first steps that estimate rests on a handful of "
           "gradients and its variance is large, so some steps are far too long: the early "
           "updates can throw the network into a bad region it takes long to leave. Two "
           "remedies exist. *Warm-up* starts with a small learning rate and raises it over "
           "the first steps (here the first half-epoch) while $\\hat v_t$ settles. *RAdam* "
           "(Liu et al. 2020, *On the Variance of the Adaptive Learning Rate and Beyond*) "
           "computes how reliable $\\hat v_t$ is: with $\\rho_\\infty = 2/(1-\\beta_2) - 1$ "
           "and $\\rho_t = \\rho_\\infty - 2 t \\beta_2^t/(1-\\beta_2^t)$, it takes plain "
           "momentum steps while $\\rho_t \\le 5$ and scales the adaptive step by the "
           "rectification $r_t = \\sqrt{(\\rho_t-4)(\\rho_t-2)\\rho_\\infty / "
           "((\\rho_\\infty-4)(\\rho_\\infty-2)\\rho_t)}$ after, which grows from 0 to 1: a "
           "warm-up derived from the variance, not chosen by hand."),
        code(SETUP + "\nimport numpy as np\nfrom lpr_lib.optim import rho, rectification"),
        code("steps = np.arange(1, 3001)\n"
             "r = np.where(rho(steps) > 5, np.nan_to_num(rectification(steps)), 0.0)\n"
             "fig, ax = plt.subplots(figsize=(6, 3.2))\n"
             "ax.plot(steps, r, label='RAdam $r_t$')\n"
             "ax.plot(steps, np.minimum(1, steps / 165), '--', label='linear warm-up, 165 steps')\n"
             "ax.set_xlabel('optimizer step'); ax.set_ylabel('share of the full step')\n"
             "ax.legend()\n"
             "save_fig(fig, '14_rectification'); plt.close(fig)"),
        figure("14_rectification", "fig-14-rectification",
               "RAdam's rectification $r_t$ ($\\beta_2 = 0.999$; 0 while the variance is "
               "not yet tractable) beside the linear warm-up of the book's runs (half an "
               "epoch of 330 steps)."),
        setup_md(["v4.0", "v4-radam", "v4.0-nowarmup", "v4-radam-nowarmup"]),
        md("## Training curves with and without warm-up\n\n"
           "v4.0 is Adam with warm-up, v4-RAdam is RAdam with the same warm-up; the two "
           "chapter rows `v4.0-nowarmup` and `v4-radam-nowarmup` start at the peak rate of "
           "8e-3 on the first step (synthetic data, first seed). "
           "{numref}`fig-14-curves` shows the training loss every 10 steps and the "
           "validation plates read after each epoch."),
        code("fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))\n"
             "rows = ('v4.0', 'v4-radam', 'v4.0-nowarmup', 'v4-radam-nowarmup')\n"
             "rep.plot_loss_trace(results, rows, 'synthetic', ax=a)\n"
             "rep.plot_curves(results, rows, 'synthetic', ax=b)\n"
             "save_fig(fig, '14_curves'); plt.close(fig)"),
        figure("14_curves", "fig-14-curves",
               "Left: the training loss (mean of every 10 steps, smoothed over 5 points) of "
               "Adam and RAdam, with and without warm-up, synthetic data. Right: the "
               "synthetic validation plates read after each epoch."),
        md("What the optimizer does to the plates read:\n\n"
           f"- {on_synthetic('v4-radam', 'v4.0')}\n"
           f"- {versus('v4-radam', 'v4.0', 'mixed')}\n"
           f"- {on_synthetic('v4.0-nowarmup', 'v4.0')}\n"
           f"- {on_synthetic('v4-radam-nowarmup', 'v4-radam')}"
           + long_versus("v4-radam", "v4.0")),
        table_cell(["v4.0", "v4-radam", "v4.0-nowarmup", "v4-radam-nowarmup"], "synthetic"),
        table_cell(["v4.0", "v4-radam"], "mixed"),
    ]


# ================================================================== 15 label smoothing

def ceiling_text():
    """Chapter 15: the highest confidence a smoothed model aims for, beside the seed's 0.85."""
    from lpr_lib.plates import NUM_CLASSES

    eps = row_config("v5", "mixed", 2026).loss.label_smoothing
    top = 1 - eps + eps / NUM_CLASSES
    return ("**Why a fixed threshold breaks.** With $\\varepsilon = "
            f"{eps:g}$ over $K = {NUM_CLASSES}$ classes the target of the true class is "
            f"$1 - \\varepsilon + \\varepsilon/K = {top:.3f}$, and cross-entropy against it "
            "is lowest when the model gives exactly that. A plate's confidence is the product "
            f"of its characters' (chapter 7), so a seven-character plate aims for about "
            f"${top:.3f}^7 = {top ** 7:.2f}$, far below the seed's threshold of 0.85: at "
            "0.85 a smoothed model accepts almost no plate, right or wrong. Under chapter "
            "7's other confidence, the least sure character, the same model aims for "
            f"{top:.3f}, above 0.85: which confidence a threshold applies to matters "
            "as much as its value. " + measured_ceiling() + "The seed's "
            "threshold belongs to its unsmoothed models. A threshold chosen on the "
            "validation split for a target precision (the 99.9% one here) moves with the "
            "model, and is the one to compare.")


def measured_ceiling():
    """Chapter 15: the share of real test plates v4.0 and v5 accept at 0.85, both ways."""
    rows = [(r, LINES.get(("mixed", r))) for r in ("v4.0", "v5")]
    if any(line is None or line.get("real_test_r85_min_mean") is None for _, line in rows):
        return ""
    parts = [f"{rep.LABELS[r]} {pct(r, 'mixed', 'real_test_r85')}% with the product and "
             f"{pct(r, 'mixed', 'real_test_r85_min')}% with the least sure character"
             for r, _ in rows]
    text = ("Measured on the real test plates (mixed data), the share of all plates accepted "
            "at 0.85 and read right is, for " + "; for ".join(parts) + ". ")
    (_, plain), (_, smoothed) = rows
    if smoothed["real_test_r85_min_mean"] < plain["real_test_r85_min_mean"] / 2:
        text += ("The margin between the target and 0.85 is small, and a plate's least sure "
                 "character usually falls below 0.85, so the smoothed model accepts few "
                 "plates with either confidence. ")
    return text


def smoothing():
    return [
        md("# Label smoothing and calibration\n\n"
           "Cross-entropy against a one-hot target is lowest when the true class gets "
           "probability 1, which needs an infinite logit: a network trained long enough "
           "grows its logits and becomes *over-confident*, right or wrong. Label smoothing "
           "(Szegedy et al. 2016) trains against $(1-\\varepsilon)$ on the true class and "
           "$\\varepsilon/K$ spread over all $K$, so the best logit gap is finite. For a "
           "plate reader this matters at the threshold: `lpr predict` accepts a reading "
           "when its confidence clears the threshold chosen for 99.9% precision, and that "
           "only works if confidence tracks correctness.\n\n"
           "A *reliability diagram* shows whether it does: group the characters by the "
           "confidence the model gave them and plot the share that are right. A calibrated "
           "model lies on the diagonal; the *expected calibration error* (ECE) is the "
           "average gap, weighted by how many characters each bin holds."),
        code(SETUP),
        setup_md(["v4.0", "v5"]),
        md("## Reliability and confidence on real plates\n\n"
           "v5 adds smoothing $\\varepsilon = 0.1$ to v4.0 and changes nothing else."),
        fig_cell('rep.plot_reliability(results, ("v4.0", "v5"), "mixed", "real_test")',
                 "15_reliability_real"),
        figure("15_reliability_real", "fig-15-reliability-real",
               "Left: reliability of the per-character confidence on the real test plates, "
               "without smoothing (v4.0) and with it (v5), mixed data, first seed (dotted: "
               "perfect calibration). Right: the plate confidence of the plates read right "
               "(solid) and wrong (dashed)."),
        fig_cell('rep.plot_reliability(results, ("v4.0", "v5"), "synthetic", '
                 '"synthetic_val")', "15_reliability_synth"),
        figure("15_reliability_synth", "fig-15-reliability-synth",
               "The same on the synthetic validation plates, for the models trained on "
               "synthetic plates alone."),
        code("rep.ece_frame(results, ('v4.0', 'v5'))"),
        md(ceiling_text()),
        md("What smoothing does to the plates read and to the operating point:\n\n"
           f"- {versus('v5', 'v4.0', 'mixed')}\n"
           f"- {versus('v5', 'v4.0', 'mixed', 'real_test_r85', ACCEPTED_85)}\n"
           f"- {versus('v5', 'v4.0', 'mixed', 'real_test_r999', ACCEPTED)}\n"
           f"- {on_synthetic('v5', 'v4.0')}"),
        table_cell(["v4.0", "v5"], "mixed",
                   ["real_test", "real_test_p85", "real_test_r85", "real_test_p999",
                    "real_test_r999"]),
    ]


# ================================================================== 16 focal and GHM

def ghm_why_text():
    """Chapter 16: GHM's weights on a batch of the trained models' characters, in numbers."""
    first = {row: runs[0]["synthetic_val"]  # each row's first seed
             for row, runs in rep.by_row(RESULTS, "synthetic").items()}
    if "v4.0" not in first or "v6" not in first:
        return "Not measured yet."
    ce, g = (rep.ghm_batch_weights(first[row]["g_density"]["count"]) for row in ("v4.0", "v6"))
    ece, ece_ce = (100 * first[row]["reliability"]["ece"] for row in ("v6", "v4.0"))
    return (
        "GHM weights every occupied bin of $g$ alike, and it makes no difference whether "
        "the characters at $g \\approx 1$ are a few outliers or most of the batch. Early "
        "in training they are most of the batch: every character the network has not yet "
        "learned sits there, with $p_t$ near 0. The table below draws batches of 64 plates "
        "(512 characters) from each trained model's distribution of $g$ on the synthetic "
        "validation plates and gives them GHM-C's weights (without the running average). "
        f"For the model trained with global GHM, {100 * g['last_bin_characters']:.0f}% of "
        f"the characters are in the last bin, and they get {100 * g['last_bin_weight']:.0f}% "
        f"of the weight; the {g['occupied']:.0f} occupied bins leave an effective batch of "
        f"{100 * g['effective_fraction']:.0f}% of the characters. The same batch drawn from "
        f"the cross-entropy model has {100 * ce['last_bin_characters']:.0f}% of its "
        "characters in the last bin.\n\n"
        "So the characters that most need learning are muted as if they were outliers, "
        "and the few in the middle bins, each with a large weight, steer the step. The run "
        "settles where it stopped: the network reads most characters as something else, "
        f"confidently (its expected calibration error is {ece:.0f}%, against "
        f"{ece_ce:.0f}% for cross-entropy), and GHM keeps that crowd quiet. Detection, "
        "where GHM comes from, starts from a "
        "backbone trained on ImageNet and has tens of thousands of anchors an image, most "
        "of them easy; a plate reader trained from scratch with 512 characters a batch "
        "is the opposite case. Label-wise GHM keeps a histogram for each position, so the "
        "positions the network has learned no longer share their bins with the others: it "
        f"reads {pct('v6-multi', 'synthetic', 'synthetic_val')}% of the synthetic "
        f"validation plates, against {pct('v6', 'synthetic', 'synthetic_val')}% for "
        "global GHM." + warm_start_text())


def warm_start_text():
    """Chapter 16: both losses trained on from the same cross-entropy checkpoint."""
    path = ROOT / "results" / "ghm_warm_start.json"
    if not path.is_file():
        return ""
    import json

    r = json.loads(path.read_text(encoding="utf-8"))["result"]
    ce, ghm = (100 * r["arms"][k]["val_plate_acc"][-1] for k in ("ce", "ghm_global"))
    return (
        "\n\nIf that is the reason, global GHM should train like cross-entropy once the "
        "crowd has been learned. `tools/ghm_warm_start.py` starts both losses from the "
        f"v4.0 model (cross-entropy, {100 * r['start']['val_plate_acc']:.1f}% of the "
        "synthetic validation plates) and trains each 2 more epochs at the same rate: "
        f"cross-entropy reaches {ce:.1f}% and global GHM {ghm:.1f}%. "
        + ("From there GHM learns about as fast as cross-entropy, where from scratch it "
           "learned nothing in the same number of steps: GHM is a loss for a network that "
           "already reads most characters, as a detector's pretrained backbone already "
           "sees most objects."
           if abs(ce - ghm) < 2 else
           f"From there GHM is {ghm - ce:+.1f} points from cross-entropy."))


def ghm():
    return [
        md("# Focal loss and GHM on plates\n\n"
           "Most characters of most plates are easy: after a few epochs the network gives "
           "the true character a probability near 1. Their gradients are small, but there "
           "are so many of them that together they still steer training, while the few hard "
           "characters (a worn 8 that looks like a B, a province glyph seen a dozen times) "
           "get little say. Two losses re-weight the examples by how hard they are. The "
           "*focal loss* (Lin et al. 2017) multiplies the cross-entropy by "
           "$(1-p_t)^\\gamma$. *GHM-C* (Li et al. 2019, *Gradient Harmonized Single-stage "
           "Detector*) looks at the distribution of the gradient norm $g = 1 - p_t$: it "
           "counts the examples in each of 30 bins of $g$ (a running count, momentum "
           "0.75) and weights each example by $N / (M \\cdot n_{bin})$, so that every "
           "occupied bin contributes the same total. That down-weights the crowd of easy "
           "examples *and* the handful of very hard ones at $g \\approx 1$, which are often "
           "outliers: a mislabelled crop, a plate the camera did not catch.\n\n"
           "*Global* GHM keeps one histogram for all eight character heads; *label-wise* "
           "GHM one for each position, since the province glyph is much harder than the "
           "last digit."),
        code(SETUP),
        setup_md(["v4.0", "v4.0-focal", "v6", "v6-multi"]),
        md("## The gradient-norm density of a trained model\n\n"
           "{numref}`fig-16-density` is the GHM paper's insight figure, on our models: the "
           "distribution of $g$ over the characters of the synthetic validation plates, "
           "and what share of the total gradient each range of $g$ carries under each loss."),
        fig_cell('rep.plot_g_density(results, ("v4.0", "v4.0-focal", "v6", "v6-multi"), '
                 '"synthetic", "synthetic_val")', "16_density"),
        figure("16_density", "fig-16-density",
               "Left: the share of characters in each bin of the gradient norm "
               "$g = 1 - p_t$ on the synthetic validation plates, for the models trained with "
               "cross-entropy (v4.0), focal loss, global and label-wise GHM (synthetic data, "
               "first seed; log scale). Right: for the cross-entropy model, each bin's share "
               "of the total gradient under cross-entropy ($n_b g_b$), focal loss (about "
               "$n_b g_b^{3}$) and GHM-C ($g_b N/M$ in every occupied bin)."),
        md("## Why global GHM learned nothing in the book's budget\n\n" + ghm_why_text()),
        code('rep.ghm_frame(results, ("v4.0", "v4.0-focal", "v6", "v6-multi"), "synthetic")'),
        md("## With the label noise of real crops\n\n"
           "The real training crops carry some wrong labels (a crop labelled 苏EE91W3 shows "
           "苏K73397). In the mixed setting those are the examples at $g \\approx 1$ that "
           "GHM down-weights and cross-entropy follows."),
        fig_cell('rep.plot_g_density(results, ("v4.0", "v6", "v6-multi"), "mixed", '
                 '"real_test")', "16_density_real"),
        figure("16_density_real", "fig-16-density-real",
               "The gradient-norm density on the real test plates for the models trained on "
               "the mixture with real (noisily labelled) crops, first seed; right: the "
               "cross-entropy model's gradient shares under each loss."),
        md("What each loss does to the plates read:\n\n"
           f"- {versus('v6', 'v4.0', 'mixed')}\n"
           f"- {versus('v6-multi', 'v4.0', 'mixed')}\n"
           f"- {on_synthetic('v6', 'v4.0')}\n"
           f"- {on_synthetic('v6-multi', 'v4.0')}\n"
           f"- {on_synthetic('v4.0-focal', 'v4.0')}" + long_versus("v6", "v4.0")),
        table_cell(["v4.0", "v4.0-focal", "v6", "v6-multi"], "synthetic"),
        table_cell(["v4.0", "v6", "v6-multi"], "mixed",
                   ["real_test", "real_test_p85", "real_test_r85", "real_test_r999"]),
    ]


# ================================================================== 17 backbones

BACKBONE_ROWS = ("v4.0", "v4.1", "v4.2", "v4.3", "v4.4", "v4.5")


def heads_text():
    """Chapter 17: how much of each model the character heads are, and why MobileNet v2's
    are the largest."""
    from lpr_lib.plates import MAX_LEN, NUM_CLASSES

    h = rep.head_params(BACKBONE_ROWS)
    share = {r: h[r]["heads"] / h[r]["total"] for r in BACKBONE_ROWS}
    r18, v2 = h["v4.0"], h["v4.4"]
    return ("**Most of the parameters are the heads.** The flatten head gives every "
            "position's classifier the whole 3x9 feature map: on ResNet-18 that is "
            f"{r18['features']:,} features ({r18['features'] // 27} channels x 27 cells) x "
            f"{MAX_LEN} positions x {NUM_CLASSES} classes, {100 * share['v4.0']:.0f}% of its "
            f"parameters at this width, and {100 * min(share.values()):.0f}-"
            f"{100 * max(share.values()):.0f}% across the six backbones. At the book's width "
            "the backbones differ mostly in their work (MACs), not in their size. MobileNet "
            "v2 shows it most: its last 1x1 convolution keeps 1,280 channels at every width "
            "below 1 (the paper's choice, which Keras' implementation follows), so its heads "
            f"read {v2['features']:,} features and hold {v2['heads'] / 1e6:.1f} of its "
            f"{v2['total'] / 1e6:.1f} million parameters, "
            f"{v2['heads'] / r18['heads']:.0f} times ResNet-18's heads.")


def loss_fall(row, data):
    """How much ``row``'s validation character loss fell in its last epoch (a share, the mean
    of the seeds), or None."""
    falls = []
    for r in RESULTS:
        loss = [h.get("val_chars_loss") for h in r.get("history") or []]
        if r["row"] == row and r["data"] == data and len(loss) >= 2 and None not in loss[-2:]:
            falls.append(1 - loss[-1] / loss[-2])
    return sum(falls) / len(falls) if falls else None


def gains_text(data):
    """Chapter 17: how far each backbone was from done, to tell a slow learner from a poor
    one: the last epoch's gain in plates read and fall of the validation loss."""
    lines = []
    for r in BACKBONE_ROWS:
        gain, fall = (LINES.get((data, r)) or {}).get("last_epoch_gain_mean"), loss_fall(r, data)
        if gain is not None and fall is not None:
            lines.append(f"- {rep.LABELS[r]}: {100 * gain:+.1f} points of plates read, the "
                         f"loss down {100 * fall:.0f}%")
    if not lines:
        return ""
    return ("How far each was from done when the budget ran out: what its last epoch added "
            f"to the validation plates read, and how much it cut the validation loss ({data} "
            "data, mean of the seeds):\n\n" + "\n".join(lines) + "\n\n"
            "A network whose loss still falls fast is still learning, even one that reads "
            "no plate yet: the table measures where each backbone got to in the book's "
            "budget, not where it would end.")


def backbones():
    rows = BACKBONE_ROWS
    # the figure's data setting: mixed once every backbone has a mixed-data run
    data = "mixed" if all((("mixed", r) in LINES) for r in rows) else "synthetic"
    what = {"mixed": "mixed data", "synthetic": "synthetic data alone"}[data]
    return [
        md("# Backbones: size, work, speed and plates read\n\n"
           "The seed tried three ResNets: its ResNet-18 (v4.0), the pre-activation "
           "ResNet-18 (v4.1: BatchNorm and ReLU before each convolution, He et al. 2016) "
           "and ResNeXt-18 (v4.2: the 3x3 convolutions split into 8 groups, Xie et al. "
           "2017). It never measured the MobileNets, built for phones: v1's depthwise "
           "separable convolutions (a 3x3 filter per channel, then a 1x1 mix), v2's "
           "inverted residuals with linear bottlenecks, v3's squeeze-and-excite blocks and "
           "hard-swish. All six are in `lpr_lib.backbones`, with the seed's stem and the "
           "same width multiplier, and share the heads."),
        code(SETUP),
        setup_md(list(rows)),
        md("The latency is chapter 10's measurement (`make bench`) of the same network: "
           "TFLite, one plate at a time, on one CPU thread."),
        code(f"rows = {rows!r}\nlatency = rep.bench_latency(results, rows)\n"
             "heads = rep.head_params(rows)   # the models rebuilt, untrained: a few seconds\n"
             f"rep.size_frame(results, rows, {data!r}, latency, heads)"),
        md(heads_text()),
        fig_cell(f'rep.plot_backbones(results, rows, {data!r}, latency)', "17_backbones"),
        figure("17_backbones", "fig-17-backbones",
               f"Real test plates read (mean and standard deviation over the seeds, trained "
               f"on {what}) against each backbone's parameters, multiply-accumulates per "
               "plate and CPU latency (TFLite, batch 1, one thread)."),
        md("The plates read:\n\n" + "\n".join(
            f"- {versus(r, 'v4.0', d)}" for d in ("synthetic", "mixed") for r in rows[1:])
           + "\n\n" + gains_text(data)),
        table_cell(list(rows), "synthetic"),
        table_cell(list(rows), "mixed"),
        md("Time per plate on a CPU, for every format the models export to, is measured in "
           "chapter 10."),
    ]


# ================================================================== 18 the table

def budget_text():
    """What the table cost, and whether its runs had finished learning."""
    table = [r for r in RESULTS if r["row"] in ROWS]
    hours = sum(r.get("run_seconds") or r["train_seconds"] for r in table) / 3600
    gains = [x["last_epoch_gain"] for x in rep.summary_lines(table)[0]
             if x["last_epoch_gain"] is not None]
    if not table:
        return ""
    rising = sum(g > 0.01 for g in gains)
    return (f"The {len(table)} jobs took {hours:.1f} hours on 2 CPU cores, training and "
            "measuring. Every row has the same budget of optimizer steps, and the column "
            "*last epoch's gain* says how far each run was from done: the validation "
            "plates read rose by more than a point in the last epoch in "
            f"{rising} of the {len(gains)} runs, so the table compares how far each recipe "
            "gets in a fixed budget, which favours the fast learners. The full-size table "
            "(`lpr ablate --full`: the seed's width, 50,000 plates, 20 epochs) trains until "
            "the learning rate has run down, on a GPU.")


def long_text():
    """Chapter 18: the rows of the convergence check at both budgets, in sentences."""
    val = synth_val
    done = [row for row in LONG_ROWS if val(LONG, row) is not None]
    intro = ("The table gives every row the same budget of optimizer steps, and in that "
             "budget most runs were still learning when it ran out (the *last epoch's gain* "
             "column). A recipe that learns slowly but ends higher would lose such a table. "
             "To see whether that happens, the rows below were trained again with four times "
             "the steps (`lpr ablate --scale long`: 16 epochs of 330 steps, each row's "
             "schedule stretched over them; synthetic data, first seed).")
    if not done:
        return intro + " Those runs are not measured yet."
    lines = []
    for row in done:
        a, b = val(RESULTS, row), val(LONG, row)
        lines.append(f"- {rep.LABELS[row]}: {100 * a:.1f}% of the synthetic validation "
                     f"plates at the book's budget, {100 * b:.1f}% with 4 times the steps.")
    pairs = [(r, b) for r, b in (("v3", "v2"), ("v4-radam", "v4.0"), ("v6", "v4.0"),
                                 ("final", "v4.0")) if r in done and b in done]
    gaps = [(r, b, 100 * (val(RESULTS, r) - val(RESULTS, b)), 100 * (val(LONG, r) - val(LONG, b)))
            for r, b in pairs]
    verdict = "The differences between rows, at the book's budget and with 4 times the steps:\n\n"
    verdict += "\n".join(f"- {rep.LABELS[r]} against {rep.LABELS[b]}: {short:+.1f} points, then "
                         f"{longer:+.1f}" + (" (reversed)" if short * longer < 0 else "")
                         for r, b, short, longer in gaps)
    shrunk = [f"{rep.LABELS[r]} against {rep.LABELS[b]}" for r, b, short, longer in gaps
              if abs(longer) < abs(short) / 3]
    if shrunk:
        verdict += ("\n\nWhere a gap shrinks to a third or less (" + "; ".join(shrunk) +
                    "), the book's budget measured mostly how fast each recipe learns, "
                    "not where it ends.")
    return intro + "\n\n" + "\n".join(lines) + "\n\n" + (verdict if pairs else "")


def close_text():
    """Chapter 18: which pairs are close, and which of their rows have the third seed."""
    times = {2.0: "twice"}.get(rep.CLOSE_FACTOR, f"{rep.CLOSE_FACTOR:g} times")
    intro = (f"Two seeds estimate a spread only roughly. A pair whose difference is at most "
             f"{times} its spread is *close*: a third seed could change its "
             "verdict, so both its rows get one (`lpr ablate --close`, seed 4036). Mixed runs "
             "are judged on the real test plates, synthetic runs on the synthetic validation "
             "plates.")
    pairs = rep.close_pairs(SUMMARY)
    if not pairs:
        judged = any(c["spread"] is not None for d, m in rep.PRIMARY.items()
                     for c in rep.compare(SUMMARY, d, m))
        return intro + (" No pair is close in the runs so far." if judged else
                        " No pair has two seeds on both its rows yet.")
    rows = rep.close_rows(SUMMARY)
    todo = sorted({f"{rep.LABELS[r]} ({d})" for d, rs in rows.items() for r in rs
                   if LINES[(d, r)]["seeds"] < 3})
    count = "1 pair is" if len(pairs) == 1 else f"{len(pairs)} pairs are"
    return (intro + f" In the runs so far {count} close"
            + (f"; these rows still have two seeds: {', '.join(todo)}." if todo else
               ", and every one of their rows has its third seed."))


def conclusions_text(data, metric, what):
    """Chapter 18: the seed's conclusions grouped by our verdict, in one bullet."""
    t = rep.conclusions(SUMMARY, data, metric)
    if t.empty:
        return f"- {what}: not measured yet."
    groups = []
    for verdict, one, more in (("holds", "holds", "hold"),
                               ("reversed", "is reversed", "are reversed"),
                               ("not seen", "is not seen (within our spread)",
                                "are not seen (within our spread)"),
                               ("one seed", "has a single seed so far",
                                "have a single seed so far"),
                               ("not measured", "is not measured yet", "are not measured yet")):
        rows = [f"{r} (the seed {c:+.1f}, ours {o:+.1f})" if pd.notna(o)
                else r for r, c, o in zip(t.index, t["the seed: change of acc"],
                                         t["ours: change"])
                if t.loc[r, "the seed's conclusion"] == verdict]
        if rows:
            groups.append(f"{len(rows)} {one if len(rows) == 1 else more}: {', '.join(rows)}")
    return f"- {what}: " + "; ".join(groups) + "."


def min_text(table):
    """Chapter 18: how much more the least sure character's confidence accepts at 0.85, from
    the lines of :func:`lpr_lib.ablation_report.seed_table`."""
    seed = [s for s in table
            if s["recall_85"] is not None and s["recall_85_min"] is not None
            and s["plate_accuracy"]]
    if not seed:
        return ""
    more = [s["recall_85_min"] - s["recall_85"] for s in seed]
    best = max(seed, key=lambda s: s["recall_85_min"])
    theirs = [s["seed_recall"] for s in seed if s["seed_recall"] is not None]
    text = (f"The least sure character's confidence is never below the product, so at 0.85 "
            f"it accepts more plates: recall rises by {100 * min(more):.1f} to "
            f"{100 * max(more):.1f} points across the {len(seed)} rows that read plates, to "
            f"at most {100 * best['recall_85_min']:.1f}% ({rep.LABELS[best['row']]})")
    if theirs and best["recall_85_min"] < min(theirs):
        text += (f", below every recall in the seed's table ({100 * min(theirs):.0f}-"
                 f"{100 * max(theirs):.0f}%). In this budget the models are not sure enough "
                 "of their readings for a fixed threshold of 0.85, whichever confidence it "
                 "applies to")
    return text + ("; the threshold chosen on validation for 99.9% precision adapts to "
                   "each model.")


def table():
    seed = rep.seed_table(SUMMARY, "mixed")
    lines = ["| row | the seed: acc | the seed: recall | ours: P@0.85 | ours: R@0.85 | "
             "ours, min: P@0.85 | ours, min: R@0.85 | ours: plates read |",
             "|---|---|---|---|---|---|---|---|"]
    def f(v):
        return "-" if v is None else f"{100 * v:.1f}"
    for s in seed:
        lines.append(f"| {rep.LABELS[s['row']]} | {f(s['seed_acc'])} | {f(s['seed_recall'])} "
                     f"| {f(s['precision_85'])} | {f(s['recall_85'])} "
                     f"| {f(s['precision_85_min'])} | {f(s['recall_85_min'])} | "
                     f"{pct(s['row'], 'mixed')} |")
    return [
        md("# The ablation table, re-measured\n\n"
           "The seed's recipe comes with a table (the *Design* page): row by row, one "
           "technique added, and the plate accuracy and recall it gave. This chapter "
           "trains every row again, on two data settings and with several seeds (the "
           "tables' *seeds* column gives each row's count), and "
           "puts our figures beside the seed's. Each row is a config under "
           "`configs/ablation/` that names the row it builds on; `lpr ablate` trains them "
           "(resumable: it skips the finished jobs), writes a result file for every row, "
           "data setting and seed under `results/ablation/`, and a summary CSV.\n\n"
           "What we chose where the seed is unclear:\n\n"
           "- the seed's *resnet19* is read as its ResNet-18 before v4.0's change: the "
           "standard 512-wide last stage (v4.0 narrows it to 384);\n"
           "- every row uses the flatten head and Adam at 8e-3 with a warm-up cosine "
           "schedule, which reads plates in the book's budget (chapter 4); the seed's own "
           "head (global average pooling) and step schedule are the row `final`;\n"
           "- v5, v6, v6-multi and v7 each change one thing from v4.0, so each compares "
           "with v4.0 directly; the seed's final recipe combines them;\n"
           "- the seed's *acc* is the precision among the plates above its confidence "
           "threshold (0.95, later 0.85) and *recall* the share of all plates above it "
           "and right. The seed's design leaves open which confidence it thresholded: "
           "the product of the per-character confidences or the least sure character's "
           "(chapter 7). We give both at 0.85 on the real test plates (*min* marks the "
           "least sure character's), and at the threshold chosen on each run's validation "
           "split for 99.9% precision."),
        code(SETUP + "\nimport pandas as pd"),
        setup_md(list(ROWS)),
        md("## The seed's table and ours\n\n" + "\n".join(lines) + "\n\n"
           "Ours: mixed data (synthetic plates with real crops, as the seed trained on real "
           "plates), mean of the seeds, on the 1,000 real test crops. The seed measured on "
           "its own test set, so only the differences between rows compare, not the "
           "levels. " + min_text(seed)),
        md("## Every row, both data settings\n\n" + budget_text()),
        table_cell(list(ROWS), "synthetic",
                   ["synthetic_val", "real_test", "kinds_test", "real_test_r85",
                    "train_minutes", "last_epoch_gain"]),
        table_cell(list(ROWS), "mixed",
                   ["synthetic_val", "real_test", "kinds_test", "real_test_p85",
                    "real_test_r85", "real_test_r999", "train_minutes", "last_epoch_gain"]),
        fig_cell('rep.plot_bars(summary, "real_test", title="real test plates read")',
                 "18_bars_real"),
        figure("18_bars_real", "fig-18-bars-real",
               "Real test plates read by every row, trained on synthetic plates alone and "
               "on the mixture with real crops; error bars: the standard deviation over the "
               "seeds."),
        fig_cell('rep.plot_bars(summary, "synthetic_val", title="synthetic validation '
                 'plates read")', "18_bars_synth"),
        figure("18_bars_synth", "fig-18-bars-synth",
               "Synthetic validation plates read by every row, both data settings."),
        code("fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.5))\n"
             "rep.plot_curves(results, ('baseline', 'v1', 'v2', 'v3', 'v4.0', 'v6-multi', "
             "'final', 'final-flatten'), 'synthetic', ax=a)\n"
             "rep.plot_curves(results, ('baseline', 'v1', 'v2', 'v3', 'v4.0', 'v6-multi', "
             "'final', 'final-flatten'), 'mixed', ax=b)\n"
             "a.set_title('synthetic data'); b.set_title('mixed data (validation: held-out "
             "real crops)')\n"
             "save_fig(fig, '18_curves'); plt.close(fig)"),
        figure("18_curves", "fig-18-curves",
               "Validation plates read after each epoch, one line a seed, for the main "
               "rows and the seed's final recipe with its own head and schedule (`final`) "
               "and with the flatten head and warm-up cosine schedule (`final-flatten`)."),
        md("## The verdict, row by row\n\n"
           "Each row against the row it builds on: the difference of the means, the spread "
           "(the two rows' seed standard deviations in quadrature) and whether the "
           "difference is larger than the spread."),
        md("Mixed data, real test plates:"),
        code("rep.verdict_frame(summary, 'mixed', 'real_test')"),
        md("Synthetic data alone, real test plates:"),
        code("rep.verdict_frame(summary, 'synthetic', 'real_test')"),
        md("Synthetic data alone, synthetic validation plates:"),
        code("rep.verdict_frame(summary, 'synthetic', 'synthetic_val')"),
        md("### Close pairs\n\n" + close_text()),
        code("rep.close_frame(summary)"),
        md("## Which of the seed's conclusions hold on our plates\n\n"
           "For every row the seed measured against the row before it: the seed's change "
           "of *acc*, ours of the real test plates read, and the verdict: the conclusion "
           "*holds* (same direction, larger than our spread), is *not seen* (within our "
           "spread), or is *reversed*."),
        code("rep.conclusions(summary, 'mixed', 'real_test')"),
        code("rep.conclusions(summary, 'synthetic', 'synthetic_val')"),
        md("In words, with the seed's change and ours in points:\n\n"
           + conclusions_text("mixed", "real_test", "mixed data, real test plates") + "\n"
           + conclusions_text("synthetic", "synthetic_val",
                              "synthetic data, synthetic validation plates")),
        md("## Does the budget decide the verdict?\n\n" + long_text()),
        code(f"long = rep.load_results('long')   # the same rows, 4 times the steps\n"
             f"rep.scale_frame(results, long, {LONG_ROWS!r}, 'synthetic')"),
        md("## Why the seed's recipe learns slowly\n\n"
           "The seed's final recipe, trained as the seed wrote it, learned far more slowly "
           "than the flatten head with Adam (8% against 90% of the synthetic validation "
           "plates after 6 GPU epochs). Three of its parts explain it, and the rows `final`, "
           "`final-cosine` and `final-flatten` separate the first two from the rest of "
           "the recipe:\n\n"
           "1. **The schedule.** The seed's steps hold 1e-5 for the first share of the "
           "epochs, then 1e-3, then drop tenfold twice. In a short run the warm-up epoch "
           "is a large share of the budget, and the peak is 8 times lower than the rate "
           "the flatten head trains at here ({numref}`fig-18-schedules`).\n"
           "2. **The head.** Global average pooling averages the last feature map over "
           "all its 3x9 cells before the heads: every head sees the same vector, and the "
           "one for the fifth character can only tell it from the third by what the "
           "backbone has learned to write into the channels about *where* each character "
           "is. The flatten head keeps the cells apart, so each head reads its column "
           "from the first step. In chapter 4's head study, after 6 epochs of 400 steps "
           "the flatten head read 41.8% of the synthetic validation plates and the "
           "average-pooling head 21.7%.\n\n"
           "3. **The loss.** Label-wise GHM mutes the crowd of characters the network has "
           "not learned yet, as chapter 16 measures: they sit at $g \\approx 1$, where GHM "
           "expects outliers.\n\n"
           "The chapter row `final-cosine` changes only the schedule (to the warm-up "
           "cosine at 8e-3) and keeps the average-pooling head; `final-flatten` changes "
           "the head too.\n\n"
           f"- {on_synthetic('final', 'v4.0')}"
           + long_versus("final", "v4.0", "the convergence check above") + "\n"
           f"- {on_synthetic('final-cosine', 'final')}\n"
           f"- {on_synthetic('final-flatten', 'final-cosine')}\n"
           f"- {on_synthetic('final-flatten', 'final')}\n"
           f"- {versus('final-flatten', 'final', 'mixed')}"),
        code("import numpy as np\n"
             "from lpr_lib.optim import WarmupCosine, seed_schedule\n"
             "fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))\n"
             "for ax, (epochs, spe, title) in zip(axes, ((4, 330, \"the book's budget\"),\n"
             "                                           (20, 780, 'the seed: 20 epochs'))):\n"
             "    steps = np.arange(epochs * spe)\n"
             "    ax.plot(steps, [float(seed_schedule(spe, epochs=epochs)(t)) for t in steps],\n"
             "            label=\"the seed's steps\")\n"
             "    cos = WarmupCosine(8e-3, spe // 2, epochs * spe, final_ratio=0.01)\n"
             "    ax.plot(steps, [float(cos(t)) for t in steps], label='warm-up cosine, 8e-3')\n"
             "    ax.set_yscale('log'); ax.set_xlabel('optimizer step'); ax.set_title(title)\n"
             "axes[0].set_ylabel('learning rate'); axes[0].legend()\n"
             "save_fig(fig, '18_schedules'); plt.close(fig)"),
        figure("18_schedules", "fig-18-schedules",
               "The learning rate step by step: the seed's schedule and the warm-up cosine "
               "of the other rows, in the book's budget (4 epochs of 330 steps) and over "
               "the seed's 20 epochs."),
    ]


CHAPTERS = {
    "11_weight_decay": weight_decay,
    "12_whitening": whitening,
    "13_augmentation": augmentation,
    "14_warmup_radam": warmup,
    "15_label_smoothing": smoothing,
    "16_focal_ghm": ghm,
    "17_backbones": backbones,
    "18_ablation_table": table,
}


def main(names=None) -> None:
    for name, cells in CHAPTERS.items():
        if names and not any(name.startswith(n) for n in names):
            continue
        write(notebook(cells()), BOOK / f"{name}.ipynb")


if __name__ == "__main__":
    main(sys.argv[1:])
