"""What runs on TensorFlow alone, and the clear error when it is not there.

The model, the losses, the optimizers and the TensorFlow-free input path
(:mod:`lpr_lib.data.pydataset`) run on every Keras 3 backend. A few pieces are TensorFlow's
own: the ``tf.data`` pipeline, TFRecord files, SavedModel and TFLite export,
``tf.distribute`` and TensorFlow's thread and device settings. They import TensorFlow only when
called, through :func:`require_tensorflow`, which raises :class:`TensorFlowRequired` naming
what needed it.
"""
from __future__ import annotations

__all__ = ["DependencyMissing", "TensorFlowRequired", "require_tensorflow", "on_tensorflow"]


class DependencyMissing(ImportError):
    """A feature was asked for whose package cannot be imported here; the message names the
    feature and what to install (``lpr`` prints it as an error, without a traceback)."""


class TensorFlowRequired(DependencyMissing):
    """A TensorFlow-only feature was asked for where TensorFlow cannot be imported."""


def on_tensorflow() -> bool:
    """Whether Keras runs on its TensorFlow backend (``KERAS_BACKEND``)."""
    import keras

    return keras.backend.backend() == "tensorflow"


def require_tensorflow(what: str):
    """``import tensorflow``, or :class:`TensorFlowRequired` saying that ``what`` needs it."""
    try:
        import tensorflow as tf
    except ImportError as err:
        raise TensorFlowRequired(f"{what} needs TensorFlow, which cannot be imported here "
                                 f"({err}); pip install tensorflow, or do without it") from None
    return tf
