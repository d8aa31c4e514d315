"""``make bench``: how fast, how big, how close to the machine's limit, and in which formats.

    python -m bench                      # everything, at full size (about 20 minutes, 2 cores)
    python -m bench --quick              # the same code in seconds to a minute (LPR_QUICK=1)
    python -m bench --parts latency --models mixed slim

Each part writes one JSON file under ``results/bench/`` (``--out``), through
``lpr_lib.repro.write_result`` (config, seed, git commit, versions, run time):

==============  ==================================================================================
machine.json    cores, CPU model and flags, library versions; the float32 matmul peak (GFLOP/s)
                on one thread and on every core, each in a fresh process
latency.json    per model (the six backbones at the default config, untrained, and the shipped
                ``mixed`` and ``slim``) and format (Keras, SavedModel, TFLite float and int8,
                ONNX): parameters, MACs, size on disk, the export's parity with Keras, and the
                time of one call at batch 1 on one thread and at batch 64 on every core (median
                and IQR over repeats, each setting in a fresh process), with the GFLOP/s it
                achieves, its share of the measured peak and the process's peak memory
accuracy.json   the shipped models' plate accuracy in every format on the real test crops
                (``../shared/real_plates/test``; a synthetic test set when it is absent, saying
                so), and how often each export's reading agrees with Keras'
training.json   training images/s per backbone (and ResNet-18 at widths 0.25 and 0.5), each in
                a fresh process through the library's own compile step, with peak memory; the
                input pipeline's images/s beside it
synth.json      the plate generator's plates/s (in one process; writing files with 1 worker and
                with every core)
readers.json    the plate readers side by side (:mod:`bench.readers`): ours (``mixed``,
                ``slim``, ``synthetic``) and the public ones (LPRNet from
                ``../shared/anchors/lprnet`` in ONNX Runtime, HyperLPR from PyPI's
                ``hyperlpr2`` in ``.venv-hyperlpr``, one fixed path), each in a fresh process
                on one thread: plate, character, per-position and per-province accuracy on
                the real test crops and on the validation sets of
                :mod:`lpr_lib.data.valsets` (loose, edge-cut and every-province crops), and
                the time of one crop at batch 1 after warm-up (median and IQR). The latency
                file's LPRNet reference is read from here
run.json        how long the run took, in all and per part (the exports apart)
==============  ==================================================================================

Quick mode (``--quick`` or ``LPR_QUICK=1``) runs the same steps with a few repeats and steps,
times inside one process (no fresh process per setting: its threads are not limited, so the
"one thread" rows are not one thread, and the file says ``fresh_process: false``), trains
without XLA and uses a small test set: it checks the code and the files' shape, not the speed.
"""
from lpr_lib.repro import REPO_ROOT

#: where ``make bench`` writes its files
RESULTS = REPO_ROOT / "results" / "bench"
#: the two latency settings: one plate at a time on one thread, and a batch on every core
SETTINGS = {"b1_t1": {"batch": 1, "threads": 1}, "b64_all": {"batch": 64, "threads": 0}}
#: the goal for the shipped model at batch 1 on one thread
GOAL_MS = 5.0

__all__ = ["RESULTS", "SETTINGS", "GOAL_MS"]
