"""The models shipped inside the package, by name: they load offline, with no training.

==========  ===================================================================================
name        what it is
==========  ===================================================================================
mixed       the default: trained on synthetic plates mixed with real crops
            (``configs/real_mix_48.yaml``)
synthetic   trained on synthetic plates alone (``configs/default.yaml``): what the generator
            teaches without a single real photograph
slim        ``mixed`` after network slimming (``configs/slim_48.yaml``, then ``lpr prune
            --ratio 0.5``): half the channels, 2.2x fewer MACs, 1.8x faster (chapter 9)
==========  ===================================================================================

Each lives in a folder of its own beside this file: ``model.keras``, the ``config.yaml`` that
trained it (its preprocessing is read from there) and ``result.json`` (its figures on the
validation split and on the real test set, with the commit, seed and versions that made it)::

    from lpr_lib.predict import load_model
    model = load_model("synthetic")       # a shipped model by name
    model = load_model()                  # the default one, "mixed"

``lpr eval`` and ``lpr predict`` use ``mixed`` when no ``--model`` is given; ``--model NAME``
picks a shipped model, ``--model PATH`` a run folder or a ``.keras`` file.
"""
from __future__ import annotations

from pathlib import Path

__all__ = ["SHIPPED", "DEFAULT_MODEL", "MODELS_DIR", "shipped_path", "is_shipped"]

MODELS_DIR = Path(__file__).parent

#: name -> one line about it
SHIPPED = {
    "mixed": "ResNet-18 x0.25 at 48x144, synthetic plates + real crops",
    "synthetic": "ResNet-18 x0.25 at 48x144, synthetic plates only",
    "slim": "mixed, slimmed: 50% of its channels pruned, then fine-tuned",
}
DEFAULT_MODEL = "mixed"


def is_shipped(name) -> bool:
    """Whether ``name`` names a shipped model (and is not a path that exists)."""
    return isinstance(name, str) and name in SHIPPED and not Path(name).exists()


def shipped_path(name: str = DEFAULT_MODEL) -> Path:
    """The folder of a shipped model; a clear error for an unknown name or a missing file."""
    if name not in SHIPPED:
        raise ValueError(f"no shipped model named {name!r}; shipped: {', '.join(SHIPPED)} "
                         "(or give a run folder or a .keras file)")
    folder = MODELS_DIR / name
    if not (folder / "model.keras").is_file():
        raise FileNotFoundError(f"{folder / 'model.keras'}: the shipped model {name!r} is "
                                "missing from this installation (reinstall lpr_lib)")
    return folder
