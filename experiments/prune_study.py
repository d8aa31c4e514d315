"""Network slimming on the shipped reader's recipe: prune at several ratios, fine-tune, and
measure what each costs and saves.

    python experiments/prune_study.py              # prune + fine-tune what is missing, measure all
    python experiments/prune_study.py --measure    # measure the finished runs only

The source is ``runs/slim_48`` (``configs/slim_48.yaml``: the shipped ``mixed`` run continued 12
epochs with an L1 penalty on BatchNorm's gamma); the unpruned references are that run and the
shipped ``mixed`` model it starts from (``lpr_lib/models/mixed``, the best checkpoint of
``configs/real_mix_48.yaml``'s run, so the study needs no 50-minute run of its own). For each
ratio: the narrower model straight after pruning and after ``--epochs`` epochs of fine-tuning
(``lpr prune``, the source's own data, checkpoint chosen on its held-out real crops), each
measured the same way: parameters, MACs, file size, CPU latency (Keras' predict_on_batch at
batch 1 on one thread and at batch 64 on every core, and the float TFLite export at batch 1 on
one thread, each in a fresh process), plate accuracy on 2,048 synthetic validation plates, on
the held-out real crops and on ``../shared/real_plates/test``, and precision/recall at
confidence 0.85.
Written to ``results/prune_study.json`` after every model (a killed study keeps what finished;
run it again to continue).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from lpr_lib.repro import REPO_ROOT, SHARED_REAL, check_clean, write_result

SOURCE = REPO_ROOT / "runs" / "slim_48"
#: the pruned shares of the prunable channels; 0 is the control: the sparse model fine-tuned the
#: same epochs with nothing cut, which says what the fine-tuning alone moves
RATIOS = (0.0, 0.3, 0.5, 0.7)


def _gammas(model) -> list[float]:
    import numpy as np

    from lpr_lib.prune import gamma_values

    return [round(float(v), 5) for v in np.concatenate(list(gamma_values(model).values()))]


def measure(model, label: str, cfg) -> dict:
    """Size, speed and accuracy of one model (saved to a temporary file for its size and
    for the latency processes)."""
    from lpr_lib import data
    from lpr_lib.evaluate import evaluate_model
    from lpr_lib.export import export_tflite, preprocessing_notes, write_preprocessing_notes
    from lpr_lib.latency import measure_latency
    from lpr_lib.model import count_flops
    from lpr_lib.train import synthetic_folder

    out = {"model": label, "params": int(model.count_params()),
           "macs": int(count_flops(model)["macs"])}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.keras"
        model.save(path)
        out["file_bytes"] = path.stat().st_size
        out["latency_b1_t1"] = measure_latency(path, batch=1, threads=1, repeats=100)
        out["latency_b64_all"] = measure_latency(path, batch=64, threads=0, repeats=20)
        lite = export_tflite(model, Path(tmp) / "model.tflite")
        # the latency process reads a .tflite as lpr export writes it: with its preprocessing
        write_preprocessing_notes(tmp, preprocessing_notes(model))
        out["tflite_bytes"] = lite.stat().st_size
        out["tflite_b1_t1"] = measure_latency(lite, batch=1, threads=1, repeats=200)
    sets = {"synthetic_val": synthetic_folder(2048, tuple(cfg.data.image_size), cfg.seed + 1),
            "real_val": data.split_by_plate(data.load_samples(SHARED_REAL / "train"),
                                            0.1, 2026)[1],
            "real_test": SHARED_REAL / "test"}
    for name, src in sets.items():
        r = evaluate_model(model, src, thresholds=(0.85,), whiten=cfg.data.whiten)
        out[name] = {"plate_accuracy": r["plate_accuracy"], "char_accuracy": r["char_accuracy"],
                     "precision@0.85": r["confidence"]["product"]["precision"][0],
                     "recall@0.85": r["confidence"]["product"]["recall"][0]}
    print(f"{label}: {out['params']:,} params, {out['macs'] / 1e6:.1f} MMACs, "
          f"{out['latency_b1_t1']['median_ms']:.2f} ms/plate (batch 1, 1 thread; TFLite "
          f"{out['tflite_b1_t1']['median_ms']:.2f}), real test "
          f"{out['real_test']['plate_accuracy']:.3f}", flush=True)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measure", action="store_true", help="measure finished runs only")
    parser.add_argument("--epochs", type=int, default=6, help="fine-tuning epochs")
    parser.add_argument("--ratios", type=float, nargs="*", default=list(RATIOS))
    args = parser.parse_args(argv)
    if not SHARED_REAL.is_dir():
        sys.exit(f"{SHARED_REAL} is absent: the study trains and measures on real plates")
    from lpr_lib.predict import load_model
    from lpr_lib.prune import prune_model, prune_run
    from lpr_lib.train import ExperimentConfig

    if not (SOURCE / "result.json").is_file():
        sys.exit(f"{SOURCE} has not finished: train it first "
                 f"(lpr train configs/{SOURCE.name}.yaml)")
    check_clean("prune_study")  # before the hours of training, not after them
    started = time.time()
    cfg = ExperimentConfig.from_yaml(SOURCE / "config.yaml")
    source, shipped = load_model(SOURCE), load_model("mixed")
    rows = {"shipped": measure(shipped, "shipped (no sparsity)", cfg),
            "sparse": measure(source, "after sparsity training, unpruned", cfg)}
    gammas = {"shipped": _gammas(shipped), "sparse": _gammas(source)}

    def save():
        write_result("prune_study", {"source": str(SOURCE.relative_to(REPO_ROOT)),
                                     "fine_tune_epochs": args.epochs, "rows": rows,
                                     "gammas": gammas}, config=cfg.to_dict(),
                     seed=cfg.seed, started=started)

    save()
    for ratio in args.ratios:
        key = f"{round(ratio * 100):02d}"
        pruned, report = prune_model(source, ratio)
        rows[f"pruned{key}"] = {**measure(pruned, f"pruned {ratio:.0%}, not fine-tuned", cfg),
                                "ratio": ratio, "removed_channels": report["removed_channels"],
                                "prunable_channels": report["prunable_channels"]}
        out = REPO_ROOT / "runs" / f"slim_48_pruned{key}"
        if not (out / "prune.json").is_file():
            if args.measure:
                print(f"{out.name}: not fine-tuned, skipped", flush=True)
                save()
                continue
            prune_run(SOURCE, ratio, out, epochs=args.epochs)
        rows[f"pruned{key}_ft"] = {**measure(load_model(out), f"pruned {ratio:.0%}, fine-tuned",
                                             cfg), "ratio": ratio, "run": out.name}
        save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
