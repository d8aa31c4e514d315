"""The generator's settings: :class:`SynthConfig` (with :class:`Lettering` and
:class:`Degradation`), its default kind mix, province weights and degradations.

They are defined and validated in :mod:`lpr_lib.config`, with the rest of the configuration
(an experiment's ``data.synth`` is a ``SynthConfig``); this module keeps the generator's import
path. What each degradation's strength means is in :class:`Degradation`'s documentation.
"""
from lpr_lib.config import (DEFAULT_KIND_MIX, DEGRADATION_NAMES, TRAFFIC_PROVINCE_WEIGHTS,
                            Degradation, Lettering, SynthConfig, default_degradations,
                            no_degradations)

__all__ = ["SynthConfig", "Lettering", "Degradation", "DEFAULT_KIND_MIX",
           "TRAFFIC_PROVINCE_WEIGHTS", "DEGRADATION_NAMES", "default_degradations",
           "no_degradations"]
