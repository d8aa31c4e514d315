"""Synthetic Chinese licence plates: GA 36 layouts, an OFL font subset, degradations.

>>> from lpr_lib.synth import PlateGenerator, SynthConfig, generate
>>> image, text = PlateGenerator(SynthConfig(), seed=0).sample()
>>> generate(1000, "data/synth", seed=1)            # images + labels.txt
"""
from lpr_lib.synth.config import (DEFAULT_KIND_MIX, TRAFFIC_PROVINCE_WEIGHTS, Degradation,
                                  Lettering, SynthConfig, default_degradations, no_degradations)
from lpr_lib.synth.generator import LABEL_FILE, META_FILE, PlateGenerator, SyntheticPlate, generate
from lpr_lib.synth.render import FONT_PATH, render_plate

#: Bumped whenever the renderer draws different plates for the same seed, so that cached
#: training sets (``lpr_lib.train.synthetic_folder``) are rendered again.
#: 2: half of the crops tight (the frame cut off above and below the characters).
#: 3: each plate's lettering drawn from ``SynthConfig.lettering`` (three faces, plain "1").
GENERATOR_VERSION = 3

__all__ = ["GENERATOR_VERSION", "SynthConfig", "Lettering", "Degradation", "PlateGenerator",
           "SyntheticPlate", "generate",
           "default_degradations", "no_degradations", "render_plate", "DEFAULT_KIND_MIX",
           "TRAFFIC_PROVINCE_WEIGHTS", "FONT_PATH", "LABEL_FILE", "META_FILE"]
