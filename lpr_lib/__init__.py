"""lpr_lib: Chinese licence-plate recognition as multi-label classification.

Importing the package silences TensorFlow's C++ logs (unless the user has set
``TF_CPP_MIN_LOG_LEVEL`` already, or ``LPR_TF_LOGS=1``): every submodule that
imports TensorFlow is imported after this file runs.
"""
import os as _os

_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from lpr_lib import _quiet  # noqa: E402

_quiet.install()  # TensorFlow 2.21 prints start-up notices that ignore the variable above

__version__ = "0.1.0"

from lpr_lib.plates import CHARS, MAX_LEN, NUM_CLASSES, PlateError  # noqa: E402

__all__ = ["__version__", "CHARS", "MAX_LEN", "NUM_CLASSES", "PlateError"]
