"""Chapter 8's error analysis: where the shipped readers fail on the real test crops, and how
the mixed reader's threshold was chosen on its held-out real crops.

    .venv/bin/python experiments/real_test_errors.py   # needs ../shared/real_plates; ~1 min

Reads the 1,000 real test crops with every shipped model: accuracy per position, the mixed
model's most frequent misreadings, its misread plates (the first twelve as text), wrong
characters per misread plate, and plate accuracy on the 皖 plates against the other
provinces. Then reads the held-out real crops of mixed's training set (its validation split)
and writes the precision-recall curve of the product confidence there, with the threshold
the shipped model carries. Everything goes to ``results/real_test_errors.json`` (text and
numbers, no image); chapter 8 prints and draws from it.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

# this checkout's library, not whichever one the environment installed
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def measure() -> dict:
    import numpy as np

    from lpr_lib import data, metrics
    from lpr_lib.evaluate import predict_dataset
    from lpr_lib.models import MODELS_DIR, SHIPPED
    from lpr_lib.models.ship import validation_source
    from lpr_lib.plates import labels_to_text
    from lpr_lib.predict import load_model, run_config
    from lpr_lib.repro import SHARED_REAL

    readers = {name: load_model(name) for name in SHIPPED}
    test = data.load_samples(SHARED_REAL / "test")
    reads = {}
    for name, m in readers.items():
        out, labels = predict_dataset(m, test)
        reads[name] = metrics.decode(out["chars"], out["length"])[0]
    mixed = reads["mixed"]
    ok = metrics.plate_correct(mixed, labels)
    wrong = np.flatnonzero(~ok)
    n_wrong = (mixed != labels).sum(1)[wrong]
    anhui = np.array([labels_to_text(row)[0] == "皖" for row in labels])
    test_part = {
        "plates": len(labels),
        "per_position_accuracy": {name: [round(float(a), 4) for a in
                                         metrics.per_position_accuracy(p, labels)[:7]]
                                  for name, p in reads.items()},
        "confusions_mixed": metrics.confusions(mixed, labels, top=12),
        "misread_mixed": int(len(wrong)),
        "first_misread_mixed": [[labels_to_text(labels[i]), labels_to_text(mixed[i])]
                                for i in wrong[:12]],
        "wrong_chars_per_misread_plate": {int(k): int(v) for k, v in
                                          zip(*np.unique(n_wrong, return_counts=True))},
        "anhui_plates": int(anhui.sum()), "other_plates": int((~anhui).sum()),
        "anhui_plate_accuracy": round(float(ok[anhui].mean()), 4),
        "other_plate_accuracy": round(float(ok[~anhui].mean()), 4),
    }
    model = readers["mixed"]
    chosen = json.loads((MODELS_DIR / "mixed" / "result.json").read_text())["result"][
        "threshold"]["product"]
    out, val_labels = predict_dataset(model, validation_source(run_config(model)))
    pred, top = metrics.decode(out["chars"], out["length"])
    conf = metrics.plate_confidence(top, pred, "product", out["length"])
    correct = metrics.plate_correct(pred, val_labels)
    thr, prec, rec = metrics.pr_curve(conf, correct)
    accepted = conf >= chosen if chosen is not None else np.zeros(len(conf), bool)
    validation = {
        "plates": len(val_labels), "plate_accuracy": round(float(correct.mean()), 4),
        "misread": int((~correct).sum()), "chosen_threshold": chosen,
        "accepted_at_chosen": int(accepted.sum()),
        "right_among_accepted": int((accepted & correct).sum()),
        "pr_curve": {"thresholds": [round(float(v), 6) for v in thr],
                     "precision": [round(float(v), 6) for v in prec],
                     "recall": [round(float(v), 6) for v in rec]},
    }
    return {"real_test": test_part, "mixed_validation": validation}


def main() -> int:
    from lpr_lib.repro import REPO_ROOT, SHARED_REAL, write_result

    if not SHARED_REAL.is_dir():
        print(f"{SHARED_REAL.name} is absent: nothing to measure", file=sys.stderr)
        return 1
    started = time.time()
    path = write_result("real_test_errors", measure(),
                        config={"models": "every shipped model", "test": "real_plates/test",
                                "validation": "mixed's held-out real training crops"},
                        started=started)
    print(f"wrote {path.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
