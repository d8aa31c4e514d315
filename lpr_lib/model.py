"""The multi-label plate reader: a backbone, then one softmax head per character position.

A plate is read as 8 independent classifications over the same alphabet (``CHARS``),
plus a small head that says whether the plate has 7 or 8 characters. With the defaults
(``pooling="flatten"``, input ``plates.DEFAULT_SIZE`` = 48x144)::

    image (48x144x3) -> backbone (a 3x9 map) -> flatten -> dropout (if set)
        -> Dense(8 * C) -> reshape (8, C) -> softmax = "chars"
        -> Dense(2) -> softmax                       = "length"

``pooling="avg"`` (the seed's global average pooling) puts one average over the map in place
of the flatten; ``pooling="attention"`` gives each position its own attention map over the
cells and its own classifier (:class:`CharacterAttention`), and the length head (and the
optional kind head, ``kind_head``) reads the map's average.

Eight ``Dense(C)`` layers side by side are *the same function* as one ``Dense(8 * C)``
whose output is cut into 8 rows: each row has its own weights and bias. The single
layer is one matrix multiply instead of eight (see the speed study in the book), so that
is what we build. The ``"length"`` head is trained with sparse cross-entropy on
``labels[:, 7] != -1``; prediction uses it to decide whether the 8th head is read.
"""
from __future__ import annotations

import keras
import numpy as np
from keras import layers

from lpr_lib.backbones import get_backbone
from lpr_lib.config import POOLINGS, ModelConfig
from lpr_lib.plates import DEFAULT_SIZE, KINDS, MAX_LEN, NUM_CLASSES

__all__ = ["ModelConfig", "CharacterAttention", "POOLINGS", "build_model", "count_params",
           "count_flops", "flops_table"]


def _backbone_kwargs(cfg: ModelConfig) -> dict:
    kw = dict(width=cfg.width, conv_decay=cfg.conv_decay, bn_decay=cfg.bn_decay,
              bn_decay_type=cfg.bn_decay_type)
    if cfg.backbone.startswith(("resnet", "resnext")):
        kw.update(stage_widths=tuple(cfg.stage_widths), strides=tuple(cfg.strides))
    if cfg.backbone == "resnext18":
        kw["cardinality"] = cfg.cardinality
    if cfg.backbone == "mobilenet_v3":
        kw["variant"] = cfg.variant
    return kw


@keras.saving.register_keras_serializable(package="lpr")
class CharacterAttention(layers.Layer):
    """One attention map per character position over the backbone's feature map.

    A 1x1 convolution scores every cell of the ``(H, W, C)`` map for each of ``positions``
    characters; a softmax over the ``H * W`` cells turns each position's scores into weights,
    and the position's feature vector is the weighted sum of the cells' features. Output:
    ``(batch, positions, C)``. Unlike ``flatten``, a head reading it is not tied to the
    column where its character fell in the training plates; unlike ``avg``, it keeps each
    character apart. ``return_attention=True`` in ``call`` also returns the maps
    ``(batch, H, W, positions)``.
    """

    def __init__(self, positions: int = MAX_LEN, kernel_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.positions = positions
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.score = layers.Conv2D(positions, 1, kernel_regularizer=self.kernel_regularizer,
                                   name="score")

    def build(self, input_shape):
        self.score.build(input_shape)

    def call(self, inputs, return_attention=False):
        ops = keras.ops
        scores = self.score(inputs)  # (B, H, W, K)
        h, w = ops.shape(inputs)[1], ops.shape(inputs)[2]
        flat = ops.reshape(scores, (-1, h * w, self.positions))
        weights = ops.softmax(flat, axis=1)  # over the H*W cells
        feats = ops.reshape(inputs, (-1, h * w, ops.shape(inputs)[-1]))
        glimpses = ops.einsum("bnk,bnc->bkc", weights, feats)
        if return_attention:
            return glimpses, ops.reshape(weights, (-1, h, w, self.positions))
        return glimpses

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.positions, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "positions": self.positions,
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer)
                if self.kernel_regularizer else None}


def build_model(config, image_size=DEFAULT_SIZE, name: str | None = None) -> keras.Model:
    """Build the plate reader for a :class:`ModelConfig` (or an ``ExperimentConfig``, whose
    ``model`` and ``data.image_size`` are used). Inputs: ``(batch, H, W, 3)`` float32, already
    preprocessed (:func:`lpr_lib.data.preprocess`). Outputs: a dict with ``"chars"``
    ``(batch, 8, NUM_CLASSES)`` and ``"length"`` ``(batch, 2)`` softmax probabilities (and
    ``"kind"`` when ``kind_head``)."""
    if hasattr(config, "model"):  # an ExperimentConfig
        image_size = tuple(config.data.image_size)
        config = config.model
    cfg = config
    if cfg.pooling not in POOLINGS:
        raise ValueError(f"model.pooling must be one of {', '.join(POOLINGS)}, "
                         f"not {cfg.pooling!r}")
    dense_reg = keras.regularizers.L2(cfg.conv_decay) if cfg.conv_decay else None
    inputs = keras.Input((*image_size, 3), name="image")
    x = get_backbone(cfg.backbone, inputs, **_backbone_kwargs(cfg))
    if cfg.pooling == "attention":
        glimpses = CharacterAttention(MAX_LEN, kernel_regularizer=dense_reg, name="pool")(x)
        if cfg.dropout:
            glimpses = layers.Dropout(cfg.dropout, name="dropout")(glimpses)
        # a classifier of its own for each position: kernel (8, C, NUM_CLASSES)
        logits = layers.EinsumDense("bkc,kcn->bkn", (MAX_LEN, NUM_CLASSES), bias_axes="kn",
                                    kernel_regularizer=dense_reg, name="char_logits")(glimpses)
        x = layers.GlobalAveragePooling2D(name="plate_pool")(x)  # for the length/kind heads
    else:
        x = (layers.GlobalAveragePooling2D(name="pool") if cfg.pooling == "avg"
             else layers.Flatten(name="pool"))(x)
        if cfg.dropout:
            x = layers.Dropout(cfg.dropout, name="dropout")(x)
        logits = layers.Dense(MAX_LEN * NUM_CLASSES, kernel_regularizer=dense_reg,
                              name="char_logits")(x)
    logits = layers.Reshape((MAX_LEN, NUM_CLASSES), name="char_heads")(logits)
    outputs = {
        "chars": layers.Softmax(axis=-1, name="chars")(logits),
        "length": layers.Dense(2, activation="softmax", kernel_regularizer=dense_reg,
                               name="length")(x),
    }
    if cfg.kind_head:
        outputs["kind"] = layers.Dense(len(KINDS), activation="softmax",
                                       kernel_regularizer=dense_reg, name="kind")(x)
    return keras.Model(inputs, outputs, name=name or f"lpr_{cfg.backbone}_w{cfg.width:g}")


def count_params(model: keras.Model, trainable_only: bool = False) -> int:
    """Number of parameters (BN's moving statistics included unless ``trainable_only``)."""
    weights = model.trainable_weights if trainable_only else model.weights
    return int(sum(np.prod(w.shape) for w in weights))


def _layer_macs(layer) -> int:
    """Multiply-accumulates of one forward pass of ``layer`` for one image."""
    if isinstance(layer, layers.DepthwiseConv2D):
        _, h, w, c = layer.output.shape
        kh, kw = layer.kernel_size
        return h * w * c * kh * kw
    if isinstance(layer, layers.Conv2D):
        _, h, w, cout = layer.output.shape
        cin = layer.input.shape[-1]
        kh, kw = layer.kernel_size
        return h * w * cout * kh * kw * cin // layer.groups
    if isinstance(layer, layers.Dense):
        return int(np.prod(layer.input.shape[1:])) * layer.units
    if isinstance(layer, layers.EinsumDense):  # one (C, N) kernel per position
        return int(np.prod(layer.kernel.shape))
    if isinstance(layer, CharacterAttention):  # the 1x1 scores, then the weighted sums
        _, h, w, c = layer.input.shape
        return 2 * h * w * c * layer.positions
    return 0


def count_flops(model: keras.Model, input_shape=None) -> dict:
    """Count the multiply-accumulates (MACs) of one image's forward pass, layer by layer.

    Only convolutions (grouped and depthwise included) and dense layers are counted:
    they are >98% of the arithmetic; BatchNorm, activations, pooling and additions are
    left out (each is about one operation per activation). ``flops`` is ``2 * macs`` (a
    multiply and an add), the convention of most papers; a training step costs about
    3x the forward pass. ``input_shape`` (H, W) rebuilds nothing: give a model built at
    the size you want to count (:func:`build_model` takes ``image_size``).
    """
    if input_shape is not None and tuple(model.input.shape[1:3]) != tuple(input_shape[:2]):
        raise ValueError(f"the model takes {tuple(model.input.shape[1:3])} inputs, not "
                         f"{tuple(input_shape[:2])}: build it at that size to count it")
    per_layer = {layer.name: _layer_macs(layer) for layer in model.layers}
    macs = int(sum(per_layer.values()))
    return {"macs": macs, "flops": 2 * macs,
            "per_layer": {k: v for k, v in per_layer.items() if v}}


def flops_table(backbones=("resnet18", "resnet18_v2", "resnext18", "mobilenet_v1",
                           "mobilenet_v2", "mobilenet_v3"),
                widths=(1.0, 0.25), image_size=DEFAULT_SIZE, **model_kw) -> list[dict]:
    """Parameters and MACs of each backbone (with the plate head) at each width."""
    rows = []
    for name in backbones:
        for width in widths:
            cfg = ModelConfig(backbone=name, width=width, **model_kw)
            model = build_model(cfg, image_size=image_size)
            rows.append({"backbone": name, "width": width, "params": count_params(model),
                         "mmacs": round(count_flops(model)["macs"] / 1e6, 1),
                         "feature_map": "x".join(str(d) for d in
                                                 model.get_layer("pool").input.shape[1:])})
            del model
            keras.backend.clear_session()
    return rows
