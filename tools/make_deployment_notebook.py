"""Writes book/10_deployment.ipynb (the chapter's source, reviewable as text).

    make bench                                   # results/bench/*.json
    python tools/make_deployment_notebook.py     # write the notebook (no outputs)
    python tools/run_chapter.py 10               # execute it at full size

The prose quotes results/bench/*.json; the script reads them when it writes the chapter, so
that the text and the figures below it tell the same numbers.
"""
from pathlib import Path

from notebook_cells import code, figure, md, notebook, write

from lpr_lib.bench_report import (FORMAT_LABELS, accuracy_frame, best_format, latency_frame,
                                  load_bench, training_frame)

ROOT = Path(__file__).resolve().parent.parent

PATH = ROOT / "book" / "10_deployment.ipynb"


def _ms(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def numbers() -> dict:
    """The figures the prose quotes, from the committed bench files."""
    bench = load_bench()
    lat = latency_frame(bench["latency"])
    machine = bench["machine"]["result"]
    ref = bench["latency"]["result"]["reference"]
    LPRNET, GOAL_MS = ref["lprnet"], ref["goal_ms_b1_t1"]  # noqa: N806
    n = {"cores": machine["cpu_count"], "cpu": machine["cpu"]["model_name"],
         "simd": ", ".join(machine["cpu"]["simd_flags"]) or "none listed",
         "lprnet_ms": _ms(LPRNET["ms_b1_t1"]), "goal_ms": f"{GOAL_MS:g}",
         "lprnet_acc": f"{100 * LPRNET['real_test_plate_accuracy']:.1f}%",
         "lprnet_params": f"{LPRNET['params'] / 1e6:.2f}M",
         "minutes": f"{bench['run']['result']['total_seconds'] / 60:.0f}" if "run" in bench
         else "n/a", "fresh": bool(lat.fresh_process.all())}
    peak = machine.get("peak", {})
    n["peak1"] = f"{peak['1']['gflops_best']:.0f}" if "1" in peak else "n/a"
    n["peak_all"] = f"{peak['all']['gflops_best']:.0f}" if "all" in peak else "n/a"

    def timing(model, fmt, setting):
        rows = lat[(lat.model == model) & (lat.format == fmt) & (lat.setting == setting)]
        return None if rows.empty else rows.iloc[0]

    for model in ("mixed", "slim"):
        info = bench["latency"]["result"]["models"].get(model)
        if info is None:
            continue
        n[f"{model}_params"] = f"{info['params'] / 1e6:.2f}M"
        n[f"{model}_mmacs"] = f"{info['macs'] / 1e6:.1f}"
        for fmt in FORMAT_LABELS:
            for setting in ("b1_t1", "b64_all"):
                t = timing(model, fmt, setting)
                if t is not None:
                    n[f"{model}_{fmt}_{setting}"] = _ms(t.ms_per_plate)
                    n[f"{model}_{fmt}_{setting}_share"] = f"{100 * (t.share_of_peak or 0):.0f}%"
            size = info["formats"].get(fmt, {}).get("bytes")
            if size:
                n[f"{model}_{fmt}_mb"] = f"{size / 1e6:.1f}"
        best = best_format(lat[lat.format != "tflite_int8"], model)
        n[f"{model}_best_fmt"] = FORMAT_LABELS[best.format]
        n[f"{model}_best_ms"] = _ms(best.ms_per_plate)
        n[f"{model}_best_value"] = float(best.ms_per_plate)
        n[f"{model}_vs_lprnet"] = f"{LPRNET['ms_b1_t1'] / best.ms_per_plate:.0f}"
    n["goal_met"] = n.get("mixed_best_value", 1e9) <= GOAL_MS
    b1 = lat[lat.setting == "b1_t1"]
    b64 = lat[lat.setting == "b64_all"]
    for key, rows in (("b1", b1), ("b64", b64)):
        floats = rows[rows.format != "tflite_int8"]
        top = floats.loc[floats.share_of_peak.idxmax()]
        n[f"share_{key}_max"] = f"{100 * top.share_of_peak:.0f}%"
        n[f"share_{key}_top"] = f"{top.model} in {FORMAT_LABELS[top.format]}"
        n[f"share_{key}_int8"] = f"{100 * rows[rows.format == 'tflite_int8'].share_of_peak.max():.0f}%"
    for fmt in ("keras", "tflite"):
        ms = b1[b1.format == fmt].ms_per_plate
        n[f"{fmt}_b1_min"], n[f"{fmt}_b1_max"] = _ms(ms.min()), _ms(ms.max())
    ratio = {key: (rows[rows.format == "keras"].set_index("model").ms_per_plate
                   / rows[rows.format == "tflite"].set_index("model").ms_per_plate).median()
             for key, rows in (("b1", b1), ("b64", b64))}
    n["keras_over_tflite_b1"], n["keras_over_tflite_b64"] = (f"{ratio['b1']:.1f}",
                                                             f"{ratio['b64']:.1f}")
    n["batches_closer"] = ratio["b64"] < ratio["b1"]
    v2 = bench["latency"]["result"]["models"].get("mobilenet_v2")
    if v2:
        n["v2_params"] = f"{v2['params'] / 1e6:.1f}M"
        n["v2_mb"] = f"{v2['formats']['keras']['bytes'] / 1e6:.0f}"
    acc = accuracy_frame(bench["accuracy"])
    test = bench["accuracy"]["result"]["test_set"]
    n["test_name"], n["test_plates"] = test["name"], f"{test['plates']:,}"
    n["test_real"] = test["real"]
    keras_acc = acc[(acc.model == "mixed") & (acc.format == "keras")].plate_accuracy
    n["below_lprnet"] = bool(len(keras_acc)) and float(keras_acc.iloc[0]) < \
        LPRNET["real_test_plate_accuracy"]
    for model in ("mixed", "slim"):
        rows = acc[acc.model == model].set_index("format")
        if rows.empty:
            continue
        for fmt in rows.index:
            n[f"{model}_{fmt}_acc"] = f"{100 * rows.loc[fmt, 'plate_accuracy']:.1f}%"
            n[f"{model}_{fmt}_agree"] = f"{100 * rows.loc[fmt, 'agrees_with_keras']:.1f}%"
        verdict = bench["accuracy"]["result"]["models"][model].get("int8_vs_float", {})
        n[f"{model}_int8_lost"] = f"{verdict.get('points_lost', float('nan')):.1f}"
        n[f"{model}_int8_holds"] = verdict.get("holds")
    tr = training_frame(bench["training"])
    pipeline = bench["training"]["result"]["pipeline"]["img_per_s"]
    n["pipeline"] = f"{pipeline:,.0f}"
    default = tr[(tr.backbone == "resnet18") & (tr.width == 0.25)]
    if not default.empty:
        d = default.iloc[0]
        n["train_default"] = f"{d.img_per_s:.0f}"
        n["pipeline_ratio"] = f"{pipeline / d.img_per_s:.0f}"
        n["pipeline_faster"] = pipeline > d.img_per_s
        n["epoch_min"] = f"{40_000 / d.img_per_s:.0f} s"
        n["train_peak_mb"] = f"{d.peak_rss_mb:,.0f}"
    fastest, slowest = tr.loc[tr.img_per_s.idxmax()], tr.loc[tr.img_per_s.idxmin()]
    n["train_fast"] = f"{fastest.backbone} x{fastest.width:g} ({fastest.img_per_s:.0f} img/s)"
    n["train_slow"] = f"{slowest.backbone} x{slowest.width:g} ({slowest.img_per_s:.0f} img/s)"
    synth = bench["synth"]["result"]
    n["synth_one"] = f"{synth['sample_plates_per_s']:.0f}"
    rates = synth["generate_plates_per_s"]
    n["synth_w1"] = f"{rates.get('1', float('nan')):.0f}"
    n["synth_all"] = f"{rates[max(rates, key=int)]:.0f}"
    mem = lat[(lat.model == "mixed") & (lat.setting == "b1_t1")].set_index("format")
    for fmt in mem.index:
        n[f"mem_{fmt}"] = f"{mem.loc[fmt, 'peak_rss_mb']:,.0f}"
    return n


def _get(n, key, default="n/a"):
    return n.get(key, default)


def latency_text(n: dict) -> str:
    g = lambda k: _get(n, k)  # noqa: E731
    goal = ("meets the goal of" if n["goal_met"] else "misses the goal of")
    closer = (f"In batches the formats come closer: Keras takes {g('keras_over_tflite_b64')}x "
              f"TFLite's time at batch 64 (median over the models) against "
              f"{g('keras_over_tflite_b1')}x at batch 1." if n["batches_closer"] else
              f"In batches Keras does not catch up: {g('keras_over_tflite_b64')}x TFLite's time "
              f"at batch 64 (median over the models), {g('keras_over_tflite_b1')}x at batch 1.")
    return (
        "What {numref}`fig-10-latency` says:\n\n"
        f"* **One plate at a time, the shipped reader takes {g('mixed_best_ms')} ms** on one "
        f"thread in its fastest float format ({g('mixed_best_fmt')}): it {goal} "
        f"{n['goal_ms']} ms, {g('mixed_vs_lprnet')}x less than LPRNet's {n['lprnet_ms']} ms. "
        f"Its int8 TFLite file takes {g('mixed_tflite_int8_b1_t1')} ms; the slimmed reader "
        f"({g('slim_params')} parameters, {g('slim_mmacs')} MMACs against {g('mixed_params')} "
        f"and {g('mixed_mmacs')}) {g('slim_tflite_b1_t1')} ms in TFLite and "
        f"{g('slim_tflite_int8_b1_t1')} ms in int8.\n"
        f"* **Keras is the slowest way to read one plate.** `predict_on_batch` takes "
        f"{g('keras_b1_min')} to {g('keras_b1_max')} ms at batch 1 across the models "
        f"({g('mixed_keras_b1_t1')} ms for the shipped one), where the TFLite interpreter takes "
        f"{g('tflite_b1_min')} to {g('tflite_b1_max')} ms: most of Keras' time is its and "
        "TensorFlow's work around the arithmetic (checking the input, dispatching each layer's "
        "kernels one by one), which a SavedModel's `serve` function shares "
        f"({g('mixed_savedmodel_b1_t1')} ms). The TFLite interpreter and ONNX Runtime plan "
        f"the whole graph once ({g('mixed_tflite_b1_t1')} and {g('mixed_onnx_b1_t1')} ms).\n"
        f"* **At batch 64 on every core** the shipped reader costs {g('mixed_keras_b64_all')} ms "
        f"a plate in Keras, {g('mixed_tflite_b64_all')} in TFLite, "
        f"{g('mixed_tflite_int8_b64_all')} in int8 and {g('mixed_onnx_b64_all')} in ONNX "
        f"Runtime. {closer}")


def accuracy_text(n: dict) -> str:
    g = lambda k: _get(n, k)  # noqa: E731
    holds = n.get("mixed_int8_holds")
    verdict = ("holds: it loses at most a point" if holds else
               "does not hold: it loses more than a point") if holds is not None else "n/a"
    if n["test_real"]:
        where = f"the {n['test_plates']} real test crops"
        lprnet = (f" LPRNet reads {n['lprnet_acc']} of these crops (they come from its "
                  "repository): the shipped reader is many times faster, and "
                  + ("less accurate" if n["below_lprnet"] else "as accurate or more")
                  + " ({numref}`fig-10-accuracy`).")
    else:
        where = (f"{n['test_plates']} synthetic test plates (the real crops are not beside "
                 "the project here)")
        lprnet = " LPRNet's accuracy is on the real crops, so it has no point here."
    return (
        f"On {where}, the float exports read what Keras reads: SavedModel, TFLite and ONNX "
        f"agree with Keras on {g('mixed_savedmodel_agree')}, {g('mixed_tflite_agree')} and "
        f"{g('mixed_onnx_agree')} of the plates ({g('mixed_keras_acc')} read correctly by the "
        f"shipped reader in Keras). int8 weights change the arithmetic: the int8 file agrees "
        f"on {g('mixed_tflite_int8_agree')} of the plates and reads "
        f"{g('mixed_tflite_int8_acc')}, {g('mixed_int8_lost')} points from the float file "
        f"(slim: {g('slim_int8_lost')}). Its accuracy {verdict}." + lprnet)


def training_text(n: dict) -> str:
    g = lambda k: _get(n, k)  # noqa: E731
    return (
        f"The default model (ResNet-18 at width 0.25) trains at {g('train_default')} "
        f"images/s on the {n['cores']} cores, {g('epoch_min')} for an epoch of the "
        f"default 40,000 synthetic plates; the fastest row is {n['train_fast']}, the slowest "
        f"{n['train_slow']}. MACs do not predict the order: a grouped or depthwise "
        "convolution does little arithmetic per byte it moves (TensorFlow's CPU kernel has "
        "no groups: `lpr_lib.backbones.GroupedConv2D` convolves ResNeXt's groups one at a "
        "time, where Keras' XLA fallback trained it at 60 images/s; TensorFlow's CPU "
        "depthwise kernels are 4-16x slower than the same convolution written as a sum of "
        "shifted products, which `lpr_lib.backbones.ShiftedDepthwiseConv2D` trains with and "
        "which cut the MobileNets' training time by more than half), and "
        f"MobileNet v2's {g('v2_params')} parameters, most of them in its head, make every "
        "optimizer step long. The input pipeline (plates decoded once and cached, then "
        f"augmented and standardised on every pass) delivers {n['pipeline']} images/s, "
        f"{g('pipeline_ratio')}x what the default training step consumes: "
        + ("training waits for arithmetic, not for data. " if n.get("pipeline_faster") else
           "the data is the bottleneck. ") + "Rendering new plates is another "
        f"matter: the generator draws {n['synth_one']} plates/s in one process and writes "
        f"{n['synth_w1']}/s as files with one worker, {n['synth_all']}/s with every core, which "
        "is why `lpr train` renders its plates once and reuses them.")


def memory_text(n: dict) -> str:
    g = lambda k: _get(n, k)  # noqa: E731
    return (
        "Peak resident memory of each timing process (the shipped reader at batch 1, in MB): "
        f"Keras {g('mem_keras')}, SavedModel {g('mem_savedmodel')}, TFLite {g('mem_tflite')}, "
        f"int8 {g('mem_tflite_int8')}, ONNX Runtime {g('mem_onnx')}. Most of it is the "
        "runtime, not the model: the TFLite interpreter here is TensorFlow's, so the process "
        "has imported all of TensorFlow, while ONNX Runtime's process never imports it. A "
        "deployment with the standalone TFLite runtime (`ai_edge_litert`) would be far smaller; "
        f"that was not measured here. Training the default model peaks at "
        f"{g('train_peak_mb')} MB.")


def cells(n: dict) -> list:
    g = lambda k: _get(n, k)  # noqa: E731
    return [
        md("# Deployment: how fast, how big, and in which formats\n\n"
           "A reader choosing this plate reader over LPRNet or HyperLPR asks four things: how\n"
           "long one plate takes on their CPU, how large the file is, how long training takes,\n"
           "and whether it runs where they deploy. This chapter answers them with `make bench`\n"
           "(the scripts in `bench/`), which measures every model of the book in every format\n"
           "it exports to and writes what it found into `results/bench/`; every figure and\n"
           f"number below is drawn from those files. The reference: LPRNet ({n['lprnet_params']}\n"
           f"parameters) takes {n['lprnet_ms']} ms per plate at batch 1 on one thread of this\n"
           f"{n['cores']}-core machine; the goal is the shipped reader at {n['goal_ms']} ms or\n"
           "less.\n\n"
           "The machine, as `make bench` found it (`results/bench/machine.json`): its cores and\n"
           "CPU flags, and its *measured* float32 peak, the GFLOP/s of a 1024x1024 matrix\n"
           "product in TensorFlow, on one thread and on every core, each in a fresh process."),
        code("import tempfile\nfrom pathlib import Path\n\nimport matplotlib.pyplot as plt\n"
             "import numpy as np\nimport pandas as pd\n\n"
             "from lpr_lib.bench_report import (FORMAT_COLORS, FORMAT_LABELS, accuracy_frame, "
             "grouped_bars,\n                                  latency_frame, load_bench, "
             "machine_lines, training_frame)\n"
             "from lpr_lib.book import save_fig, setup\nfrom lpr_lib.repro import REPO_ROOT\n\n"
             "QUICK = setup()\nbench = load_bench()\nlat = latency_frame(bench['latency'])\n"
             "MODELS = list(bench['latency']['result']['models'])\n"
             "ref = bench['latency']['result']['reference']  # LPRNet on this machine, and the goal\n"
             "LPRNET_MS, LPRNET_ACC = ref['lprnet']['ms_b1_t1'], ref['lprnet']['real_test_plate_accuracy']\n"
             "GOAL_MS = ref['goal_ms_b1_t1']\n"
             "print('\\n'.join(machine_lines(bench['machine'])))\n"
             "meta = {part: bench[part]['meta'] for part in bench}\n"
             "total = bench['run']['result']['total_seconds'] if 'run' in bench else float('nan')\n"
             "print(f\"make bench: {total / 60:.1f} \"\n"
             "      f\"minutes at commit {meta['latency']['git_commit'][:10]}; load average \"\n"
             "      f\"{bench['machine']['result']['load_average']} at the start; every \"\n"
             "      f\"timing in a fresh process: {bool(lat.fresh_process.all())}\")"),
        md("## Exporting, and running each format\n\n"
           "`lpr export` writes the model in four formats besides Keras' own `.keras` file, and\n"
           "checks each against the Keras model before it keeps it:\n\n"
           "```bash\n"
           "lpr export --model mixed --out exported/ --format all   # or savedmodel, tflite, tflite_int8, onnx\n"
           "lpr predict plate.jpg --model exported/model.tflite     # a .tflite, .onnx or SavedModel\n"
           "lpr predict plate.jpg --model exported/model.onnx\n"
           "lpr predict plate.jpg --model exported/savedmodel\n"
           "lpr eval ../shared/real_plates/test --model exported/model_int8.tflite\n"
           "```\n\n"
           "| format | file | runs on | what it is |\n|---|---|---|---|\n"
           "| SavedModel | `savedmodel/` | TensorFlow (Python, C++, TF Serving) | the graph and "
           "weights, `serve` endpoint |\n"
           "| TFLite | `model.tflite` | the TFLite interpreter (phones, ARM boards, Python) | "
           "float32 flatbuffer, XNNPACK kernels on a CPU |\n"
           "| TFLite int8 | `model_int8.tflite` | the same | dynamic-range quantization: int8 "
           "weights, activations quantized on the fly |\n"
           "| ONNX | `model.onnx` | ONNX Runtime (and the runtimes that read ONNX) | Keras' "
           "`model.export(format=\"onnx\")`, converted by tf2onnx |\n\n"
           "Every export takes the *preprocessed* crop (float32, `(batch, 48, 144, 3)`, any\n"
           "batch) and returns the same two outputs; `preprocessing.json` beside it says how to\n"
           "preprocess (resize, then standardise each crop) and which threshold marks a\n"
           "reading unsure, and `lpr predict` and `lpr eval` read it, so an export reads plates\n"
           "exactly as the Keras model does. After each export, `lpr export` prints its parity\n"
           "check: the largest difference of any output probability from Keras' on 8 rendered\n"
           "plates, and how many of their readings agree. A float export that differs by more\n"
           "than 1e-4 (1e-5 for a SavedModel) is not written. Here is the check for the shipped\n"
           "`slim` reader, and what each export reads on four sample plates:"),
        code("from lpr_lib.export import LABELS, parity_text, write_exports\n"
             "from lpr_lib.predict import Predictor, load_model\nfrom lpr_lib.runtime import EXPORT_NAMES\n\n"
             "model = load_model('slim')\nplates = sorted((REPO_ROOT / 'data_samples').glob('*.jpg'))[:4]\n"
             "readings = {'Keras': [t for t, _ in Predictor(model, min_confidence=0).predict(plates)]}\n"
             "with tempfile.TemporaryDirectory() as tmp:\n"
             "    write_exports(model, Path(tmp), ['savedmodel', 'tflite', 'tflite_int8', 'onnx'],\n"
             "                  report=lambda fmt, path, check: print(f'{LABELS[fmt]:12s} {parity_text(check)}'))\n"
             "    for fmt in ('savedmodel', 'tflite', 'tflite_int8', 'onnx'):\n"
             "        reader = Predictor(load_model(Path(tmp) / EXPORT_NAMES[fmt]), min_confidence=0)\n"
             "        readings[LABELS[fmt]] = [t for t, _ in reader.predict(plates)]\n"
             "pd.DataFrame(readings, index=pd.Index([p.name.split('_')[0] for p in plates], name='plate'))"),
        md("ONNX comes from Keras' own exporter, which on the TensorFlow backend converts the\n"
           "traced model with `tf2onnx` (1.17, with `onnx` 1.23 and `onnxruntime` 1.32: they\n"
           "install beside TensorFlow 2.21 and protobuf 7 without changing them; `make install`\n"
           "adds them, `pip install 'lpr_lib[onnx]'` elsewhere). ResNeXt's grouped convolutions\n"
           "are computed one group at a time (`GroupedConv2D`), which converts to plain ONNX\n"
           "`Conv`s; a model saved with Keras' own grouped `Conv2D`, which Keras runs on a CPU\n"
           "inside an XLA-compiled function that tf2onnx cannot convert, is traced by\n"
           "`lpr_lib.export.export_onnx` as the plain `Conv2D` that TensorFlow's graph allows,\n"
           "an ONNX `Conv` with groups. The parity check confirms the outputs either way.\n\n"
           "## How long one plate takes\n\n"
           "`make bench` times every model in every format: the six backbones at the default\n"
           "configuration (width 0.25, 48x144; untrained, since the time of a forward pass does\n"
           "not depend on the weights) and the two shipped readers. Each setting runs in a fresh\n"
           "process (a runtime's threads are fixed when it starts): one plate a call on one\n"
           "thread, the case of a camera reading plates one by one, and 64 plates a call on\n"
           "every core, the case of a batch of crops. A point is the median over up to 100\n"
           "calls (20 at batch 64) after warm-up calls, the bar the interquartile range."),
        code("fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), sharey=False)\n"
             "for ax, setting, title in ((axes[0], 'b1_t1', 'batch 1, one thread'),\n"
             "                           (axes[1], 'b64_all', 'batch 64, every core (per plate)')):\n"
             "    rows = lat[lat.setting == setting]\n"
             "    grouped_bars(ax, rows, 'ms_per_plate', MODELS, 'iqr_low', 'iqr_high')\n"
             "    ax.set(yscale='log', ylabel='ms per plate', title=title)\n"
             "axes[0].axhline(LPRNET_MS, color='tab:red', ls='--', lw=1, label=f'LPRNet, {LPRNET_MS} ms')\n"
             "axes[0].axhline(GOAL_MS, color='tab:green', ls=':', lw=1, label=f'goal, {GOAL_MS:g} ms')\n"
             "axes[0].legend(fontsize=7, ncol=2)\n"
             "save_fig(fig, '10_latency'); plt.close(fig)\n"
             "table = lat.pivot_table(index='model', columns=['setting', 'format'], values='ms_per_plate')\n"
             "table.reindex(MODELS).round(2)"),
        figure("10_latency", "fig-10-latency",
               "Milliseconds per plate of every model in every format (log scale), median over "
               "repeated calls with the interquartile range: one plate a call on one thread "
               "(left; the red line is LPRNet on the same machine, the green line the goal) and "
               "64 plates a call on every core (right, divided by 64). The six backbones are "
               "untrained at the default width 0.25; mixed and slim are the shipped readers."),
        md(latency_text(n)),
        md("## Accuracy and speed together\n\n"
           "Time is only half of the choice. `make bench` also reads the test plates with each\n"
           "shipped reader in each format (`results/bench/accuracy.json`): the share of plates\n"
           "read right, and the share read exactly as Keras reads them."),
        code("acc = accuracy_frame(bench['accuracy'])\ntest = bench['accuracy']['result']['test_set']\n"
             "fig, ax = plt.subplots(figsize=(8.5, 4))\n"
             "b1 = lat[lat.setting == 'b1_t1'].set_index(['model', 'format'])\n"
             "for model, marker in (('mixed', 'o'), ('slim', 's')):\n"
             "    for _, r in acc[acc.model == model].iterrows():\n"
             "        if (model, r.format) in b1.index:\n"
             "            ax.scatter(b1.loc[(model, r.format), 'ms_per_plate'], r.plate_accuracy, marker=marker,\n"
             "                       color=FORMAT_COLORS[r.format], s=50, label=f'{model}, {FORMAT_LABELS[r.format]}')\n"
             "if test['real']:\n"
             "    ax.scatter(LPRNET_MS, LPRNET_ACC, marker='*', s=150, color='tab:red', label='LPRNet')\n"
             "ax.axvline(GOAL_MS, color='tab:green', ls=':', lw=1)\n"
             "ax.set(xscale='log', xlabel='ms per plate, batch 1, one thread',\n"
             "       ylabel=f\"plate accuracy, {test['plates']} {test['name']}\")\n"
             "ax.legend(fontsize=7, loc='center left', bbox_to_anchor=(1.02, 0.5))\n"
             "save_fig(fig, '10_accuracy'); plt.close(fig)\n"
             "acc.set_index(['model', 'format']).round(4)"),
        figure("10_accuracy", "fig-10-accuracy",
               "Plate accuracy on the test plates against milliseconds per plate at batch 1 on "
               "one thread, for the shipped readers in each format (circles: mixed, squares: "
               "slim; colours as in the previous figure), with LPRNet's accuracy on the same "
               "real test crops and its time on this machine (star); the green line is the "
               "goal. The backbones have no point: they are untrained here."),
        md(accuracy_text(n)),
        md("## How close to the machine's limit\n\n"
           "A forward pass of the shipped reader is "
           f"{g('mixed_mmacs')} million multiply-accumulates, {2 * float(n.get('mixed_mmacs', 0)):.0f}\n"
           "million floating-point operations. Divided by the time it takes, that is the rate the\n"
           "call achieves; set against the matmul peak on the same threads "
           f"({n['peak1']} GFLOP/s on one thread, {n['peak_all']} on every core), it says how\n"
           "much of the machine the model uses. {numref}`fig-10-peak`:"),
        code("fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), sharey=True)\n"
             "for ax, setting, title in ((axes[0], 'b1_t1', 'batch 1, one thread'),\n"
             "                           (axes[1], 'b64_all', 'batch 64, every core')):\n"
             "    rows = lat[lat.setting == setting].assign(pct=lambda d: 100 * d.share_of_peak)\n"
             "    grouped_bars(ax, rows, 'pct', MODELS)\n"
             "    ax.set(ylabel='% of the float32 matmul peak', title=title)\n"
             "axes[1].legend(fontsize=7)\n"
             "save_fig(fig, '10_peak'); plt.close(fig)\n"
             "lat.pivot_table(index='model', columns=['setting', 'format'], values='gflops').reindex(MODELS).round(1)"),
        figure("10_peak", "fig-10-peak",
               "The GFLOP/s each call achieves (two operations per multiply-accumulate of the "
               "model), as a share of the float32 matrix-product peak measured on the same "
               "threads; left one plate on one thread, right 64 plates on every core. The int8 "
               "bars count the same operations, done partly in int8."),
        md(f"At batch 1 the best call reaches {n['share_b1_max']} of one thread's peak; at "
           f"batch 64, {n['share_b64_max']} of every core's ({n['share_b64_top']}), among "
           f"the float formats. The int8 calls reach {n['share_b1_int8']} and "
           f"{n['share_b64_int8']}: counted as float operations, part of their arithmetic is "
           "done in int8" + (", which these cores' VNNI instructions do faster than float32"
                              if "vnni" in n["simd"] else "") + ". The models are small "
           "for the machine: at width 0.25 the ResNets' layers have 16 to 96 channels on maps "
           "of 27 to 432 cells, too little work per kernel call to fill the vector units the "
           "way a 1024x1024 matrix product does, and every layer's call, memory traffic and "
           "activation cost time that no multiply-accumulate counts. At batch 1 in Keras the "
           "overheads are nearly all of the time.\n\n"
           "## How big\n\n"
           "The size on disk of each file ({numref}`fig-10-sizes`):"),
        code("sizes = lat[lat.setting == 'b1_t1'].drop_duplicates(['model', 'format'])\n"
             "fig, ax = plt.subplots(figsize=(10, 3.6))\n"
             "grouped_bars(ax, sizes, 'mb', MODELS)\nax.set(yscale='log', ylabel='MB on disk')\n"
             "ax.legend(fontsize=7, ncol=5)\nsave_fig(fig, '10_sizes'); plt.close(fig)\n"
             "info = bench['latency']['result']['models']\n"
             "pd.DataFrame({m: {'parameters (M)': info[m]['params'] / 1e6, 'MMACs': info[m]['macs'] / 1e6,\n"
             "                  **{f'{FORMAT_LABELS[f]} (MB)': info[m]['formats'][f].get('bytes', np.nan) / 1e6\n"
             "                     for f in FORMAT_LABELS if f in info[m]['formats']}}\n"
             "              for m in MODELS}).T.round(2)"),
        figure("10_sizes", "fig-10-sizes",
               "Megabytes on disk of each model in each format (log scale): the .keras file "
               "(weights without optimizer state), the SavedModel folder, the float and int8 "
               "TFLite files and the ONNX file."),
        md(f"The float formats all store the weights as float32 and weigh about the same: "
           f"{g('mixed_keras_mb')} MB for the shipped reader's `.keras` file, "
           f"{g('mixed_tflite_mb')} MB as TFLite, {g('mixed_onnx_mb')} MB as ONNX (the "
           f"SavedModel, {g('mixed_savedmodel_mb')} MB, holds twice the weights' bytes in its "
           "variables, as Keras 3.15's export writes them). int8 weights take a quarter: "
           f"{g('mixed_tflite_int8_mb')} MB, and {g('slim_tflite_int8_mb')} MB for the slimmed "
           f"reader. MobileNet v2 is the outlier, {g('v2_params')} parameters "
           f"({g('v2_mb')} MB): its last layer keeps 1,280 channels whatever the width (as in "
           "the paper), and the flatten head connects each of them at each of the 27 cells of "
           "the 3x9 map to every character's 74 classes.\n\n"
           "## Memory\n\n" + memory_text(n) + "\n\n"
           "## Training throughput\n\n"
           "How long training takes depends on the backbone far more than inference does. Each\n"
           "row trains the default configuration (batch 64, XLA, the default augmentation) with\n"
           "one backbone or width, in a fresh process, for a few steps after the compilation;\n"
           "the dashed line is the input pipeline alone, the dotted one the generator's rate of\n"
           "new plates on every core ({numref}`fig-10-training`)."),
        code("tr = training_frame(bench['training'])\nsynth = bench['synth']['result']\n"
             "pipe = bench['training']['result']['pipeline']\n"
             "labels = [f'{b} x{w:g}' for b, w in zip(tr.backbone, tr.width)]\n"
             "rate = lambda ms: tr.batch * 1000 / ms\n"
             "err = np.vstack([tr.img_per_s - rate(np.array([i[1] for i in tr.step_iqr])),\n"
             "                 rate(np.array([i[0] for i in tr.step_iqr])) - tr.img_per_s]).clip(0)\n"
             "fig, ax = plt.subplots(figsize=(9, 3.6))\n"
             "ax.bar(labels, tr.img_per_s, yerr=err, capsize=2, color='tab:blue', label='training step')\n"
             "ax.axhline(pipe['img_per_s'], color='tab:grey', ls='--', label=f\"input pipeline, {pipe['img_per_s']:,.0f} img/s\")\n"
             "ax.axhline(max(synth['generate_plates_per_s'].values()), color='tab:purple', ls=':',\n"
             "           label=f\"generator, every core, {max(synth['generate_plates_per_s'].values()):.0f} plates/s\")\n"
             "ax.set(yscale='log', ylabel='images per second')\nax.tick_params(axis='x', rotation=30)\n"
             "ax.legend(fontsize=7)\nsave_fig(fig, '10_training'); plt.close(fig)\n"
             "tr.drop(columns=['step_iqr']).set_index(['backbone', 'width']).round(1)"),
        figure("10_training", "fig-10-training",
               "Training images per second of each backbone (at the default width 0.25, and "
               "ResNet-18 at 0.5), from the median step with its interquartile range (log "
               "scale), against the input pipeline alone (dashed) and the generator's new "
               "plates per second on every core (dotted)."),
        md(training_text(n)),
        md("## What was measured where\n\n"
           f"* On one machine: {n['cores']} cores of an {n['cpu']} with {n['simd']}; TensorFlow's\n"
           "  kernels (oneDNN) use them for Keras and SavedModel, XNNPACK for TFLite, ONNX\n"
           "  Runtime its own. Another CPU, an ARM board or a phone will rank the formats\n"
           "  differently; nothing here was measured on one.\n"
           "* Times are of the model alone, on preprocessed crops: reading the file, resizing and\n"
           "  standardising the crop are not in them (`lpr predict` does those in TensorFlow).\n"
           + ("* Every setting ran in a fresh process, after warm-up calls.\n" if n["fresh"] else
              "* These timings ran in one process with a few repeats (`make bench --quick`): its\n"
              "  threads were not limited, so the batch-1 rows of Keras and SavedModel are not on\n"
              "  one thread, the memory figures are that process's, and training ran without XLA\n"
              "  at batch 16. `make bench` measures each setting in a fresh process.\n") +
           "* The load average before the run is in `machine.json`; on a shared machine every\n"
           "  figure is a lower bound.\n"
           "* The six backbones are untrained: their times and sizes are what they are trained or\n"
           "  not, but their int8 accuracy is not measured (only the shipped readers').\n"
           "* int8 here is dynamic-range quantization: int8 weights, activations quantized on the\n"
           "  fly. Full integer quantization (calibrated activations, int8 inputs) would be\n"
           "  faster on hardware built for it, and needs a calibration set; not tried.\n"
           "* TFLite runs on TensorFlow's own interpreter (`tf.lite.Interpreter`, deprecated in\n"
           "  favour of the `ai_edge_litert` package, which was not installed).\n"
           f"* LPRNet's {n['lprnet_ms']} ms is the reference the project was given for this machine\n"
           "  (batch 1, one thread), not re-measured by `make bench`; its accuracy is the figure\n"
           "  chapter 8 compares with.\n"
           "* The peak is a float32 matrix product in TensorFlow, best of its repeats: a practical\n"
           "  ceiling, not the CPU's theoretical one."),
        md("## Summary\n\n"
           f"* The shipped reader reads a plate in {g('mixed_best_ms')} ms on one thread "
           f"({g('mixed_best_fmt')}), against LPRNet's {n['lprnet_ms']} ms on the same machine and "
           f"a goal of {n['goal_ms']} ms; in Keras, {g('mixed_keras_b1_t1')} ms. LPRNet still "
           "reads more of the real test plates.\n"
           "* For one plate at a time, export: TFLite or ONNX Runtime, not Keras. For batches,\n"
           "  any format will do.\n"
           f"* int8 weights make the file four times smaller ({g('mixed_tflite_int8_mb')} MB) and "
           f"cost {g('mixed_int8_lost')} points of plate accuracy.\n"
           f"* One plate at a time, the best float call uses {n['share_b1_max']} of one thread's\n"
           f"  arithmetic peak, and Keras far less: at this size, overheads decide the time. In\n"
           f"  batches of 64 the best reaches {n['share_b64_max']} of every core's.\n"
           "* `make bench` measures all of it again (about "
           f"{n['minutes']} minutes on {n['cores']} cores) into `results/bench/`.\n\n"
           "## Exercises\n\n"
           "1. Export the shipped reader with `lpr export --format all` and read the same plate\n"
           "   with each file. Which one does `lpr predict` take the longest to start, and why?\n"
           "2. Time the shipped reader at batch 8 on one thread (`python -m lpr_lib.latency\n"
           "   exported/model.tflite --batch 8 --threads 1`). Where does the time per plate stop\n"
           "   falling?\n"
           "3. Quantize the activations as well: give `TFLiteConverter` a representative dataset\n"
           "   of preprocessed crops. What does it cost in accuracy, and what does it save?\n"
           "4. Why does ResNeXt-18, with fewer MACs than ResNet-18, train more slowly here?"),
    ]


if __name__ == "__main__":
    write(notebook(cells(numbers())), PATH)
