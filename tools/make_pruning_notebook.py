"""Writes book/09_pruning.ipynb (the chapter's source, reviewable as text).

    python tools/prune_study.py                 # the runs and results/prune_study.json
    python tools/make_pruning_notebook.py       # write the notebook (no outputs)
    python tools/run_chapter.py 09              # execute it at full size

The prose quotes results/prune_study.json; the script reads it when it writes the chapter,
so that the text and the tables below it tell the same numbers.
"""
import json
from pathlib import Path

from notebook_cells import code, figure, md, notebook, write

ROOT = Path(__file__).resolve().parent.parent
PATH = ROOT / "book" / "09_pruning.ipynb"
STUDY = ROOT / "results" / "prune_study.json"


def numbers() -> dict:
    """The figures the prose quotes, from the committed study."""
    study = json.loads(STUDY.read_text(encoding="utf-8"))["result"]
    rows = study["rows"]

    def pct(row, key="real_test"):
        return f"{100 * rows[row][key]['plate_accuracy']:.1f}%"

    n = {"ship_test": pct("shipped"), "sparse_test": pct("sparse"),
         "ship_val": pct("shipped", "real_val"), "sparse_val": pct("sparse", "real_val"),
         "ship_ms": f"{rows['shipped']['latency_b1_t1']['median_ms']:.1f}",
         "ship_params": f"{rows['shipped']['params'] / 1e6:.2f}M",
         "ship_mmacs": f"{rows['shipped']['macs'] / 1e6:.1f}",
         "ship_lite_ms": f"{rows['shipped']['tflite_b1_t1']['median_ms']:.2f}",
         "ship_mb": f"{rows['shipped']['file_bytes'] / 1e6:.1f}"}
    for name in ("shipped", "sparse"):
        g = study["gammas"][name]
        n[f"{name}_lt05"] = f"{100 * sum(v < 0.05 for v in g) / len(g):.0f}%"
    for key in ("00", "30", "50", "70"):
        for suffix in ("", "_ft"):
            r = rows.get(f"pruned{key}{suffix}")
            if r is None:
                continue
            tag = f"p{key}{suffix}"
            n[f"{tag}_test"] = pct(f"pruned{key}{suffix}")
            n[f"{tag}_val"] = pct(f"pruned{key}{suffix}", "real_val")
            n[f"{tag}_syn"] = pct(f"pruned{key}{suffix}", "synthetic_val")
            n[f"{tag}_ms"] = f"{r['latency_b1_t1']['median_ms']:.1f}"
            n[f"{tag}_params"] = f"{r['params'] / 1e6:.2f}M"
            n[f"{tag}_mmacs"] = f"{r['macs'] / 1e6:.1f}"
            n[f"{tag}_lite_ms"] = f"{r['tflite_b1_t1']['median_ms']:.2f}"
            n[f"{tag}_mb"] = f"{r['file_bytes'] / 1e6:.1f}"
            lite = rows["shipped"]["tflite_b1_t1"]["median_ms"] / r["tflite_b1_t1"]["median_ms"]
            n[f"{tag}_lite_faster"] = f"{lite:.1f}"
            ship = rows["shipped"]
            n[f"{tag}_smaller"] = f"{ship['params'] / r['params']:.1f}"
            n[f"{tag}_fewer_macs"] = f"{ship['macs'] / r['macs']:.1f}"
            speed = ship["latency_b1_t1"]["median_ms"] / r["latency_b1_t1"]["median_ms"]
            n[f"{tag}_faster"] = f"{speed:.1f}"
            speed64 = ship["latency_b64_all"]["median_ms"] / r["latency_b64_all"]["median_ms"]
            n[f"{tag}_faster64"] = f"{speed64:.1f}"
    return n


def sparsity_text(n: dict) -> str:
    return (
        f"The penalty splits the channels in two. After the 12 epochs, {n['sparse_lt05']} of "
        f"the channels have $|\\gamma|$ below 0.05 (the shipped model: {n['shipped_lt05']}), "
        "nearly all of them at zero: Adam scales each parameter's step by its own gradient's "
        "size, so a $\\gamma$ that the loss does not defend is walked to zero at the full "
        "learning rate. The rest keep values near the shipped model's. The model lost nothing "
        f"by it: it reads {n['sparse_test']} of the real test plates (the shipped model "
        f"{n['ship_test']}) and {n['sparse_val']} of the held-out real crops "
        f"({n['ship_val']}); twelve more epochs of the same mixture may account for the small "
        "gain.")


def verdict_text(n: dict) -> str:
    return (
        "What the table and {numref}`fig-09-ratio` say:\n\n"
        f"* **Up to the channels the penalty silenced, pruning is free.** Cutting 30% of the "
        f"prunable channels (all of them among those near zero) leaves {n['p30_test']} of the "
        f"real test plates read *before* any fine-tuning, for {n['p30_mmacs']} MMACs instead "
        f"of {n['ship_mmacs']}.\n"
        f"* **Beyond them the model breaks, and fine-tuning mends it.** At 50% the cut takes "
        f"channels the model uses: {n['p50_test']} of the test plates straight after it, "
        f"{n['p50_ft_test']} after 6 epochs of fine-tuning ({n['p50_ft_val']} of the "
        f"held-out real crops), with {n['p50_ft_params']} parameters instead of "
        f"{n['ship_params']} ({n['p50_ft_smaller']}x fewer) and {n['p50_ft_fewer_macs']}x "
        f"fewer MACs. At 70%, {n['p70_ft_test']} after fine-tuning: too much.\n"
        f"* **Fine-tuning itself moves the test figure by about a point.** The control row "
        f"(the sparse model fine-tuned the same 6 epochs with nothing cut) reads "
        f"{n['p00_ft_test']}; the 30% model, {n['p30_test']} before fine-tuning and "
        f"{n['p30_ft_test']} after. The checkpoints are chosen on the 154 held-out real "
        "plates, where one plate is 0.65 points, and the 1,000 test plates carry a standard "
        "error of about one point: differences of a point or two between these rows are "
        "within what another seed would move.\n"
        f"* **Fewer MACs are not fewer milliseconds in Keras at batch 1.** `predict_on_batch` "
        f"takes about {n['ship_ms']} ms for the shipped model and {n['p50_ft_ms']} ms for the "
        "50% model, with half the arithmetic: at one plate a call, most of the time goes to "
        "Keras' and TensorFlow's dispatch. The TFLite interpreter, which a deployment at batch 1 would use, "
        f"takes {n['ship_lite_ms']} ms for the shipped model and {n['p50_ft_lite_ms']} ms for "
        f"the 50% model ({n['p50_ft_lite_faster']}x faster; {n['p70_ft_lite_ms']} ms at "
        f"70%). At batch 64 the pruned models are {n['p50_ft_faster64']}x (50%) faster per "
        "plate in Keras too.\n\n"
        "Set against a target of twice smaller and twice faster at batch 1, within one point "
        f"of the unpruned reader on the real test, the 50% model is close but not there: "
        f"{n['p50_ft_smaller']}x fewer parameters, {n['p50_ft_lite_faster']}x faster at "
        f"batch 1 in TFLite, and {n['p50_ft_test']} of the real test plates, within one point "
        f"of the shipped model ({n['ship_test']}) and of its fine-tuned control "
        f"({n['p00_ft_test']}), but below the sparse model it was cut from "
        f"({n['sparse_test']}). The 70% model is twice smaller and faster, at a cost of "
        "fourteen points. A ratio between the two, or a longer fine-tuning, is the next "
        "thing to try.")


def summary_text(n: dict) -> str:
    return (
        "* Network slimming is three steps: an L1 penalty on BatchNorm's $\\gamma$ "
        "(`model.bn_decay` with `bn_decay_type: l1`), one global threshold on $|\\gamma|$, "
        "and fine-tuning the genuinely narrower model it rebuilds (`lpr prune`).\n"
        "* Channels joined by residual additions or squeeze-excite are cut together, grouped "
        "convolutions keep equal groups, and a space no BatchNorm can judge is kept whole; "
        "removing channels whose BatchNorm writes zeros leaves the outputs exactly as they were.\n"
        f"* On the shipped reader, the penalty silenced {n['sparse_lt05']} of the channels; "
        f"cutting 30% was free, 50% needed fine-tuning and then read {n['p50_ft_test']} of the "
        f"real test plates with {n['p50_ft_smaller']}x fewer parameters and "
        f"{n['p50_ft_fewer_macs']}x fewer MACs; 70% cost too much.\n"
        "* At batch 1, Keras' per-call overhead hides the saving; TFLite shows it.")


def cells(n: dict) -> list:
    return [
        md("# Network slimming: a smaller, faster reader\n\n"
           "The seed's recipe ends with a row it never measured: v7, pruning. Network slimming\n"
           "(Liu et al. 2017, *Learning Efficient Convolutional Networks through Network\n"
           "Slimming*) makes a trained network narrower in three steps:\n\n"
           "1. **train with an L1 penalty on BatchNorm's $\\gamma$**. Every channel a BatchNorm\n"
           "   normalises leaves it as $\\gamma_c \\hat{x}_c + \\beta_c$: $\\gamma_c$ is the\n"
           "   channel's volume knob. The penalty $\\lambda \\sum_c |\\gamma_c|$ pulls every knob\n"
           "   towards zero, and only the channels the loss needs hold theirs up;\n"
           "2. **cut the channels whose $|\\gamma|$ is smallest**, under one threshold for the\n"
           "   whole network, and rebuild a genuinely narrower model (fewer filters in each\n"
           "   convolution, not weights set to zero: only a narrower model is faster);\n"
           "3. **fine-tune** the narrower model to recover what the cut cost.\n\n"
           "This chapter does the three steps to the shipped `mixed` reader and measures what\n"
           "each ratio of pruned channels saves (parameters, multiply-accumulates, file size,\n"
           "CPU time per plate) and costs (plates read, on synthetic and on real plates)."),
        code("import json\n\nimport matplotlib.pyplot as plt\nimport numpy as np\nimport pandas as pd\n\n"
             "from lpr_lib.book import setup, save_fig\nfrom lpr_lib.model import ModelConfig, "
             "build_model, count_flops\nfrom lpr_lib.prune import channel_spaces, "
             "prune_model, select_channels\nfrom lpr_lib.repro import RESULTS_DIR\n\n"
             "QUICK = setup()\nstudy = json.loads((RESULTS_DIR / 'prune_study.json')"
             ".read_text())['result']\nrows = study['rows']"),
        md("## Channels that go together\n\n"
           "A channel cannot always be cut on its own. `lpr_lib.prune.channel_spaces` walks the\n"
           "model's graph and groups channels into *spaces* that are kept or cut together:\n\n"
           "* a convolution starts a space; BatchNorm, activations, pooling and depthwise\n"
           "  convolutions pass it on unchanged;\n"
           "* an `Add` (a residual connection) or a `Multiply` (squeeze-excite) ties the spaces\n"
           "  of its inputs into one: channel 5 of the shortcut and channel 5 of the block are\n"
           "  added, so both stay or both go. In a ResNet a whole stage is one space;\n"
           "* a grouped convolution (ResNeXt) keeps the same number of channels in each group;\n"
           "* a space is kept whole when some convolution writing into it is not read by a\n"
           "  BatchNorm alone (no $\\gamma$ to judge its channels: the pre-activation ResNet's\n"
           "  residual stream; a squeeze-excite block's bottleneck, and the channels it scales,\n"
           "  since its scale is a convolution with no BatchNorm) or when a layer the pruner cannot\n"
           "  slice reads it (the attention head's map).\n\n"
           "The channels of a space are scored by the largest $|\\gamma|$ among its\n"
           "BatchNorms. For the default ResNet-18 at width 0.25:"),
        code("model = build_model(ModelConfig(width=0.25), image_size=(48, 144))\n"
             "graph, _ = channel_spaces(model)\n"
             "roots = sorted({graph.find(i) for i in range(len(graph.spaces))})\n"
             "spaces = [graph.spaces[r] for r in roots if graph.spaces[r].producers]\n"
             "pd.DataFrame([{'first convolution': s.producers[0], 'convolutions': len(s.producers),\n"
             "               'BatchNorms': len(s.scored_by), 'channels': s.size,\n"
             "               'pruned?': 'yes' if s.prunable else 'kept whole: ' + s.reason}\n"
             "              for s in spaces])"),
        md("A channel whose BatchNorm has $\\gamma = 0$ *and* $\\beta = 0$ writes zeros, so\n"
           "removing it must leave the outputs exactly as they were. That is the pruner's\n"
           "correctness test (`tests/test_prune.py` runs it on every backbone and head); here\n"
           "it is on the default model, with 40% of every prunable space silenced:"),
        code("rng = np.random.default_rng(0)\nkeep = {}\n"
             "for r in roots:\n"
             "    s = graph.spaces[r]\n"
             "    if not s.prunable:\n        continue\n"
             "    keep[r] = np.sort(rng.choice(s.size, int(0.6 * s.size), replace=False))\n"
             "    for name in s.scored_by:  # silence the other 40% in every BatchNorm of the space\n"
             "        bn = model.get_layer(name)\n"
             "        gamma, beta, mean, var = bn.get_weights()\n"
             "        drop = np.setdiff1d(np.arange(s.size), keep[r])\n"
             "        gamma[drop] = beta[drop] = 0.0\n"
             "        bn.set_weights([gamma, beta, mean, var])\n"
             "small, report = prune_model(model, 0.0, keep=keep)\n"
             "x = rng.normal(size=(4, 48, 144, 3)).astype('float32')\n"
             "diff = np.abs(np.asarray(small(x)['chars']) - np.asarray(model(x)['chars'])).max()\n"
             "print(f\"{report['params_before']:,} -> {report['params_after']:,} parameters, \"\n"
             "      f\"{count_flops(model)['macs'] / 1e6:.0f} -> {count_flops(small)['macs'] / 1e6:.0f} \"\n"
             "      f\"MMACs; largest change in any output probability: {diff:.1e}\")"),
        md("## Sparsity training\n\n"
           "`configs/slim_48.yaml` continues the shipped reader's run for 12 epochs of its own\n"
           "mixture (synthetic plates and real crops, 1:1) with the penalty at the seed's\n"
           "strength, `model.bn_decay: 1e-3` with `bn_decay_type: l1`, and a lower learning rate\n"
           "(2e-3). {numref}`fig-09-gammas` shows what it does to the $|\\gamma|$ of all the\n"
           "model's BatchNorms."),
        code("fig, ax = plt.subplots(figsize=(8, 3))\n"
             "bins = np.linspace(0, max(max(study['gammas']['shipped']), max(study['gammas']['sparse'])), 60)\n"
             "ax.hist(study['gammas']['shipped'], bins, alpha=0.6, label='the shipped model')\n"
             "ax.hist(study['gammas']['sparse'], bins, alpha=0.6, label='after sparsity training')\n"
             "ax.set(xlabel='|gamma|', ylabel='channels', yscale='log'); ax.legend()\n"
             "save_fig(fig, '09_gammas'); plt.close(fig)\n"
             "for name in ('shipped', 'sparse'):\n"
             "    g = np.array(study['gammas'][name])\n"
             "    print(f'{name}: {g.size} channels, median |gamma| {np.median(g):.3f}, '\n"
             "          f'{np.mean(g < 0.05):.0%} below 0.05')"),
        figure("09_gammas", "fig-09-gammas",
               "|gamma| of every BatchNorm channel of the shipped reader (blue) and of the same "
               "model after 12 epochs with the L1 penalty (orange); log scale."),
        md(sparsity_text(n)),
        md("## What each ratio saves and costs\n\n"
           "`lpr prune runs/slim_48 --ratio R` cuts the share R of the prunable channels with\n"
           "the smallest $|\\gamma|$, keeps at least one channel in each space, rebuilds the\n"
           "narrower model, and fine-tunes it for 6 epochs of the same mixture, choosing the\n"
           "checkpoint on the held-out real crops. `tools/prune_study.py` measures each model\n"
           "the same way; the CPU time is the median of `predict_on_batch` over 100 calls,\n"
           "each setting in a fresh process (batch 1 on one thread, batch 64 on both cores)."),
        code("order = ['shipped', 'sparse'] + [k for k in rows if k.startswith('pruned') and k != 'pruned00']\n"
             "table = pd.DataFrame({k: {'params (M)': rows[k]['params'] / 1e6,\n"
             "                          'MMACs': rows[k]['macs'] / 1e6,\n"
             "                          'file (MB)': rows[k]['file_bytes'] / 1e6,\n"
             "                          'ms, Keras, batch 1': rows[k]['latency_b1_t1']['median_ms'],\n"
             "                          'ms, TFLite, batch 1': rows[k]['tflite_b1_t1']['median_ms'],\n"
             "                          'ms/plate, Keras, batch 64': rows[k]['latency_b64_all']['ms_per_plate'],\n"
             "                          'synthetic val': rows[k]['synthetic_val']['plate_accuracy'],\n"
             "                          'real val': rows[k]['real_val']['plate_accuracy'],\n"
             "                          'real test': rows[k]['real_test']['plate_accuracy'],\n"
             "                          'P@0.85 real test': rows[k]['real_test']['precision@0.85'],\n"
             "                          'R@0.85 real test': rows[k]['real_test']['recall@0.85']}\n"
             "                      for k in order}).T\n"
             "table.index = [rows[k]['model'].replace('pruned 0%, fine-tuned', 'not pruned, fine-tuned (control)')\n"
             "               for k in order]\ntable.round(3)"),
        code("ratios = sorted({rows[k]['ratio'] for k in rows if rows[k].get('ratio', 0) > 0})\n"
             "keys = [f'pruned{round(r * 100):02d}' for r in ratios]\n"
             "xs = [0.0] + ratios\n"
             "cut = [rows['sparse']] + [rows[k] for k in keys]                    # straight after the cut\n"
             "tuned = [rows['pruned00_ft']] + [rows[k + '_ft'] for k in keys]     # after fine-tuning\n"
             "acc = lambda rs, s: [r[s]['plate_accuracy'] for r in rs]\n"
             "fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))\n"
             "axes[0].plot(xs, acc(cut, 'real_test'), 'o--', color='tab:blue', label='real test, after the cut')\n"
             "axes[0].plot(xs, acc(tuned, 'real_test'), 'o-', color='tab:blue', label='real test, fine-tuned')\n"
             "axes[0].plot(xs, acc(cut, 'synthetic_val'), 's--', color='tab:orange', alpha=0.6, label='synthetic val, after the cut')\n"
             "axes[0].plot(xs, acc(tuned, 'synthetic_val'), 's-', color='tab:orange', alpha=0.6, label='synthetic val, fine-tuned')\n"
             "axes[0].axhline(rows['shipped']['real_test']['plate_accuracy'], color='grey', lw=0.8)\n"
             "axes[0].set(xlabel='share of prunable channels cut', ylabel='plate accuracy', ylim=(0, 1))\n"
             "axes[0].legend(fontsize=7, loc='lower left')\n"
             "axes[1].plot(xs, [r['tflite_b1_t1']['median_ms'] for r in tuned], 'o-', label='TFLite, batch 1, 1 thread')\n"
             "axes[1].plot(xs, [r['latency_b1_t1']['median_ms'] for r in tuned], 'o--', label='Keras, batch 1, 1 thread')\n"
             "axes[1].plot(xs, [r['latency_b64_all']['ms_per_plate'] for r in tuned], 'o:', label='Keras, batch 64, per plate')\n"
             "axes[1].set(xlabel='share of prunable channels cut', ylabel='ms per plate', ylim=(0, None))\n"
             "ax2 = axes[1].twinx(); ax2.plot(xs, [r['macs'] / 1e6 for r in tuned], 's--', color='tab:grey', label='MMACs')\n"
             "ax2.set(ylabel='MMACs', ylim=(0, None)); ax2.grid(False)\n"
             "axes[1].legend(loc='upper right', fontsize=7); ax2.legend(loc='center right', fontsize=7)\n"
             "save_fig(fig, '09_ratio'); plt.close(fig)"),
        figure("09_ratio", "fig-09-ratio",
               "Left: plate accuracy against the share of prunable channels cut, straight after "
               "the cut (dashed) and after fine-tuning (solid; at 0, the control fine-tuned with "
               "nothing cut), on the real test crops and on synthetic validation plates; the "
               "grey line is the shipped model on the real test. Right: CPU time per plate of "
               "the fine-tuned models (TFLite and Keras at batch 1 on one thread, Keras at batch "
               "64 on both cores) and the multiply-accumulates of one plate."),
        md(verdict_text(n)),
        md("## Summary\n\n" + summary_text(n) + "\n\n"
           "## Exercises\n\n"
           "1. Prune the shipped model *without* sparsity training (`lpr prune runs/real_mix_48\n"
           "   --ratio 0.5`). How much more does the cut cost before fine-tuning, and after?\n"
           "2. Train `configs/slim_48.yaml` with `--set model.bn_decay=1e-4` and with `1e-2`. Where\n"
           "   does the histogram of $|\\gamma|$ split, and what does each strength cost the\n"
           "   unpruned model?\n"
           "3. Build `resnet18_v2` and read `channel_spaces`: which spaces are kept whole, and why\n"
           "   does a pre-activation network leave less to prune?\n"
           "4. Why is a 2x cut in MACs not a 2x cut in milliseconds at batch 1? Time the pruned\n"
           "   model at batch 64 and compare the two ratios."),
    ]


if __name__ == "__main__":
    write(notebook(cells(numbers())), PATH)
