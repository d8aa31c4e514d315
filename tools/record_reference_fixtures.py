"""Record the reference fixtures the tests compare lpr_lib against.

Writes ``tests/fixtures/ce_torch.json``: ``torch.nn.functional.cross_entropy`` with
``ignore_index=-1`` and ``label_smoothing`` in {0, 0.1, 0.3}, summed and divided by the
batch, on logits (6, 8, 11) (normal, scale 3, NumPy seed 2026) and labels with ``-1``
at some 8th positions: the masked cross-entropy as PyTorch defines it.

Writes ``tests/fixtures/radam_torch.json``: parameter trajectories of
``torch.optim.RAdam`` (PyTorch 2.13.0, CPU, float64) on fixed inputs, for several
settings. Each case starts from the same two parameters (a 3x4 matrix and a 5-vector,
normal(0, 1) from NumPy seed 2026) and takes ``STEPS`` steps. Two kinds of gradient:

* ``"fixed"``: a pre-drawn sequence of gradients (normal, NumPy seed 2026 + case
  index), stored in the fixture, set as ``p.grad`` regardless of the parameter (so the
  trajectory depends on the optimizer alone, and on the parameter only through
  weight decay);
* ``"quadratic"``: the gradient of ``0.5 * sum(a * (p - c)^2)`` (``a``, ``c`` stored),
  ``a * (p - c)``, computed from the current parameter.

torch is used only here, once, in a throw-away virtualenv; it is never a dependency
of lpr_lib. To record again::

    python3 -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch==2.13.0 numpy
    /tmp/torchenv/bin/python tools/record_reference_fixtures.py
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

SEED = 2026
STEPS = 40
FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
OUT = FIXTURES / "radam_torch.json"

# For every beta2 here (0.999, 0.99, 0.9) rho_t first exceeds 5 at step 6: steps 1-5
# are un-adapted momentum steps, steps 6-40 rectified (recorded per case).
# Learning rates and weight decays are powers of two (1/1024 ~ 1e-3, 1/128 ~ 8e-3,
# 1/2048 ~ 5e-4, ...): Keras keeps the learning rate (and decoupled decay) in float32
# variables, and dyadic values are exact there, so a float64 replay can match torch to
# ~1e-12 instead of being limited by the rounding of 1e-3 to float32.
CASES = [
    dict(lr=2**-10, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False,
         grad="fixed"),
    dict(lr=2**-7, betas=(0.8, 0.99), eps=1e-8, weight_decay=2**-7, decoupled=False,
         grad="fixed"),
    dict(lr=2**-8, betas=(0.9, 0.999), eps=1e-8, weight_decay=2**-3, decoupled=True,
         grad="fixed"),
    dict(lr=2**-7, betas=(0.9, 0.9), eps=1e-6, weight_decay=0.0, decoupled=False,
         grad="fixed"),
    dict(lr=2**-5, betas=(0.9, 0.999), eps=1e-8, weight_decay=2**-11, decoupled=False,
         grad="quadratic"),
]


def rho_t(step, beta2):
    rho_inf = 2 / (1 - beta2) - 1
    return rho_inf - 2 * step * beta2 ** step / (1 - beta2 ** step)


def record_cross_entropy() -> None:
    rng = np.random.default_rng(SEED)
    logits = rng.normal(scale=3.0, size=(6, 8, 11))
    labels = rng.integers(0, 11, size=(6, 8))
    labels[[0, 2, 5], 7] = -1
    values = {}
    for eps in (0.0, 0.1, 0.3):
        loss = torch.nn.functional.cross_entropy(
            torch.tensor(logits).permute(0, 2, 1), torch.tensor(labels), ignore_index=-1,
            label_smoothing=eps, reduction="sum") / labels.shape[0]
        values[str(eps)] = float(loss)
    payload = {"description": "torch.nn.functional.cross_entropy(ignore_index=-1, "
                              "label_smoothing=eps, reduction='sum') / batch (float64)",
               "torch_version": torch.__version__, "seed": SEED, "logits": logits.tolist(),
               "labels": labels.tolist(), "loss": values}
    path = FIXTURES / "ce_torch.json"
    path.write_text(json.dumps(payload) + "\n")
    print(f"wrote {path}")


def main() -> None:
    record_cross_entropy()
    rng = np.random.default_rng(SEED)
    init = [rng.normal(size=(3, 4)), rng.normal(size=(5,))]
    quad_a = [rng.uniform(0.1, 3.0, size=(3, 4)), rng.uniform(0.1, 3.0, size=(5,))]
    quad_c = [rng.normal(size=(3, 4)), rng.normal(size=(5,))]
    cases = []
    for i, case in enumerate(CASES):
        grng = np.random.default_rng(SEED + i)
        params = [torch.tensor(p, dtype=torch.float64, requires_grad=True) for p in init]
        opt = torch.optim.RAdam(params, lr=case["lr"], betas=case["betas"], eps=case["eps"],
                                weight_decay=case["weight_decay"],
                                decoupled_weight_decay=case["decoupled"])
        grads, traj = [[], []], [[], []]
        for _ in range(STEPS):
            for j, p in enumerate(params):
                if case["grad"] == "fixed":
                    g = grng.normal(scale=0.5 + j, size=p.shape)
                else:
                    g = quad_a[j] * (p.detach().numpy() - quad_c[j])
                grads[j].append(g.tolist())
                p.grad = torch.tensor(g, dtype=torch.float64)
            opt.step()
            for j, p in enumerate(params):
                traj[j].append(p.detach().numpy().tolist())
        first = next(t for t in range(1, STEPS + 1) if rho_t(t, case["betas"][1]) > 5)
        cases.append({**case, "betas": list(case["betas"]), "first_rectified_step": first,
                      "grads": grads if case["grad"] == "fixed" else None,
                      "trajectory": traj})
    payload = {
        "description": "torch.optim.RAdam trajectories (float64); see "
                       "tools/record_reference_fixtures.py",
        "torch_version": torch.__version__, "numpy_version": np.__version__, "seed": SEED,
        "steps": STEPS, "init": [p.tolist() for p in init],
        "quadratic": {"a": [a.tolist() for a in quad_a], "c": [c.tolist() for c in quad_c]},
        "cases": cases,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(payload) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size / 1024:.0f} KiB), torch {torch.__version__}")


if __name__ == "__main__":
    main()
