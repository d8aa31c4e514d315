"""Backbones for 48x144 plate crops: ResNet18 (v1 and pre-activation v2), ResNeXt18 and
MobileNet v1, v2 and v3, each with a width multiplier.

Every backbone is a function ``(inputs, width=1.0, conv_decay=..., bn_decay=..., ...)``
that returns the last feature map (batch, h, w, channels); :mod:`lpr_lib.model` puts the
multi-label head on it. They are written for small inputs: a plate crop is 48 pixels
high, so the usual ImageNet strides (32x down) would leave a 2x5 map; the stride of
each stage is a parameter (``strides``) and the defaults keep the map at least 2 high.

Weight decay is split as in the seed's recipe, each part its own value:

* ``conv_decay``: L2 on every conv (and depthwise conv) kernel, ``conv_decay * sum(w**2)``;
* ``bn_decay`` with ``bn_decay_type="l2"`` or ``"l1"``: on BatchNorm's gamma. L1 on gamma
  is *network slimming* (Liu et al. 2017): it pushes the scales of useless channels to
  zero so that :mod:`lpr_lib.prune` can remove them.

Both are Keras regularizers on the layers, so ``model.losses`` carries them and
``model.fit`` adds them to the loss. Convolutions followed by BatchNorm have no bias
(BN's beta does its job).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
from keras import layers

__all__ = ["BACKBONES", "get_backbone", "make_divisible", "resnet18", "resnet18_v2",
           "resnext18", "mobilenet_v1", "mobilenet_v2", "mobilenet_v3", "GroupedConv2D",
           "ShiftedDepthwiseConv2D", "FusedBatchNormalization"]


def make_divisible(channels: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round a channel count to a multiple of ``divisor`` (never down by more than 10%),
    as the MobileNet papers do for their width multiplier."""
    min_value = min_value or divisor
    out = max(min_value, int(channels + divisor / 2) // divisor * divisor)
    if out < 0.9 * channels:
        out += divisor
    return out


@keras.saving.register_keras_serializable(package="lpr")
class GroupedConv2D(layers.Conv2D):
    """``keras.layers.Conv2D`` with ``groups > 1`` computed as one convolution a group.

    TensorFlow's CPU convolution kernel has no groups, so Keras' TensorFlow backend runs a
    grouped convolution as an XLA-compiled function: ResNeXt-18 then trains at 32 img/s on
    2 cores against 293 img/s when each group is convolved on its own and the results are
    concatenated (measured on the default ResNeXt-18, batch 64, 48x144). Same weights
    (kernel ``(kh, kw, cin / groups, cout)``, group ``g`` owning output channels
    ``g * cout / groups`` onwards, as ``Conv2D``), same config and outputs; backend-neutral
    (``keras.ops``)."""

    def convolution_op(self, inputs, kernel):
        if self.groups == 1:
            return super().convolution_op(inputs, kernel)
        pieces = zip(keras.ops.split(inputs, self.groups, axis=-1),
                     keras.ops.split(kernel, self.groups, axis=-1))
        return keras.ops.concatenate(
            [keras.ops.conv(x, k, strides=list(self.strides), padding=self.padding,
                            dilation_rate=self.dilation_rate, data_format=self.data_format)
             for x, k in pieces], axis=-1)


@keras.saving.register_keras_serializable(package="lpr")
class ShiftedDepthwiseConv2D(layers.DepthwiseConv2D):
    """``keras.layers.DepthwiseConv2D`` that trains as a sum of shifted products.

    A depthwise ``k x k`` convolution is ``y = sum_ij shift_ij(x) * w[i, j, :]``: ``k*k``
    strided slices of the padded input, each scaled per channel. Written that way its
    forward and backward passes are element-wise products and sums, which XLA fuses;
    TensorFlow's CPU depthwise kernels (above all ``DepthwiseConv2dNativeBackpropFilter``)
    are 4-16x slower for these shapes (measured with batch 64 at 6x18 to 24x72, 96-384
    channels), and they made the MobileNets train at 67-141 img/s against ResNet-18's 580.
    The sum is used when ``training`` is true only; inference, export and conversion
    (TFLite, ONNX) see Keras' own depthwise op. Same weights (``(kh, kw, channels, 1)``),
    config and outputs (to float32 rounding); backend-neutral (``keras.ops``). A
    ``depth_multiplier`` other than 1, a dilation or ``channels_first`` uses the parent.
    """

    def call(self, inputs, training=None):
        if (not training or self.depth_multiplier != 1 or self.data_format != "channels_last"
                or tuple(self.dilation_rate) != (1, 1)):
            return super().call(inputs)
        ops = keras.ops
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        height, width = inputs.shape[1], inputs.shape[2]
        if self.padding == "same":
            out_h, out_w = -(-height // sh), -(-width // sw)
            pad_h = max((out_h - 1) * sh + kh - height, 0)
            pad_w = max((out_w - 1) * sw + kw - width, 0)
            x = ops.pad(inputs, [[0, 0], [pad_h // 2, pad_h - pad_h // 2],
                                 [pad_w // 2, pad_w - pad_w // 2], [0, 0]])
        else:
            out_h, out_w = (height - kh) // sh + 1, (width - kw) // sw + 1
            x = inputs
        outputs = None
        for i in range(kh):
            for j in range(kw):
                tap = x[:, i:i + (out_h - 1) * sh + 1:sh, j:j + (out_w - 1) * sw + 1:sw, :]
                term = tap * self.kernel[i, j, :, 0]
                outputs = term if outputs is None else outputs + term
        if self.use_bias:
            outputs = outputs + self.bias
        return self.activation(outputs) if self.activation is not None else outputs


@keras.saving.register_keras_serializable(package="lpr")
class FusedBatchNormalization(layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` computed by TensorFlow's fused kernel.

    Keras 3 normalises with separate ops (``tf.nn.moments``, then a multiply-add), about
    six passes over the activations forward and more backward; tf.keras 2 used the
    single ``FusedBatchNormV3`` kernel on 4-D inputs. This layer brings it back (same
    weights, same ``get_config``; a model saved with it loads as this class). The moving
    variance is updated with the batch's *unbiased* variance, as tf.keras 2 did (Keras 3
    uses the biased one: a factor ``n / (n - 1)``, n = batch x height x width).
    Falls back to the parent for masks, renorm, an axis other than the last, or a Keras
    backend other than TensorFlow (JAX, PyTorch: there the model is the same, unfused).
    """

    def call(self, inputs, training=None, mask=None):
        if keras.backend.backend() != "tensorflow":
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        if (mask is not None or self.renorm or self.synchronized or len(inputs.shape) != 4
                or self.axis not in (-1, 3) or not (self.scale and self.center)
                or inputs.dtype != tf.float32):
            return super().call(inputs, training=training, mask=mask)
        if training and self.trainable:
            y, mean, variance, *_ = tf.raw_ops.FusedBatchNormV3(
                x=inputs, scale=self.gamma, offset=self.beta,
                mean=tf.zeros([0], tf.float32), variance=tf.zeros([0], tf.float32),
                epsilon=self.epsilon, is_training=True, data_format="NHWC")
            self.moving_mean.assign(self.moving_mean * self.momentum
                                    + mean * (1.0 - self.momentum))
            self.moving_variance.assign(self.moving_variance * self.momentum
                                        + variance * (1.0 - self.momentum))
            return y
        y, *_ = tf.raw_ops.FusedBatchNormV3(
            x=inputs, scale=self.gamma, offset=self.beta, mean=self.moving_mean,
            variance=self.moving_variance, epsilon=self.epsilon, is_training=False,
            data_format="NHWC")
        return y


class _Factory:
    """Builds the layers of one backbone with its regularizers and a unique name per layer."""

    def __init__(self, conv_decay: float, bn_decay: float, bn_decay_type: str,
                 bn_momentum: float = 0.99, fused_bn: bool = False):
        if bn_decay_type not in ("l1", "l2"):
            raise ValueError(f"bn_decay_type must be 'l1' or 'l2', not {bn_decay_type!r}")
        self.kernel_reg = keras.regularizers.L2(conv_decay) if conv_decay else None
        if bn_decay:
            self.gamma_reg = (keras.regularizers.L1(bn_decay) if bn_decay_type == "l1"
                              else keras.regularizers.L2(bn_decay))
        else:
            self.gamma_reg = None
        self.bn_momentum = bn_momentum
        self.bn_class = FusedBatchNormalization if fused_bn else layers.BatchNormalization

    def conv(self, x, filters, kernel=3, strides=1, groups=1, name=None, use_bias=False):
        conv = GroupedConv2D if groups > 1 else layers.Conv2D
        return conv(filters, kernel, strides=strides, padding="same", groups=groups,
                    use_bias=use_bias, kernel_initializer="he_normal",
                    kernel_regularizer=self.kernel_reg, name=name)(x)

    def dwconv(self, x, kernel=3, strides=1, name=None):
        return ShiftedDepthwiseConv2D(kernel, strides=strides, padding="same", use_bias=False,
                                      depthwise_initializer="he_normal",
                                      depthwise_regularizer=self.kernel_reg,
                                      name=name)(x)

    def bn(self, x, name, zero_gamma=False):
        return self.bn_class(
            momentum=self.bn_momentum, epsilon=1e-3, gamma_regularizer=self.gamma_reg,
            gamma_initializer="zeros" if zero_gamma else "ones", name=name)(x)

    def conv_bn(self, x, filters, kernel=3, strides=1, name="", act="relu", groups=1):
        x = self.conv(x, filters, kernel, strides, groups=groups, name=name + "_conv")
        x = self.bn(x, name + "_bn")
        return activation(x, act, name + "_" + act) if act else x


def activation(x, name: str, layer_name: str | None = None):
    """``relu``, ``relu6``, ``hard_swish`` (MobileNetV3) or ``hard_sigmoid``."""
    fn = {"relu": "relu", "relu6": "relu6", "hard_swish": "hard_swish",
          "hard_sigmoid": "hard_sigmoid"}.get(name)
    if fn is None:
        raise ValueError(f"unknown activation {name!r}")
    return layers.Activation(fn, name=layer_name)(x)


def _stem(f: _Factory, x, width):
    """The seed's stem: a 3x3 stride-2 conv, BN, ReLU, and a 3x3 stride-2 max-pool (4x down)."""
    x = f.conv_bn(x, make_divisible(64 * width), 3, 2, name="stem")
    return layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)


# ---------------------------------------------------------------- ResNet family


def resnet18(inputs, width: float = 1.0, stage_widths: Sequence[int] = (64, 128, 256, 512),
             strides: Sequence = (1, 2, 2, 1), blocks: Sequence[int] = (2, 2, 2, 2),
             conv_decay: float = 5e-4, bn_decay: float = 0.0, bn_decay_type: str = "l2",
             preact: bool = False, cardinality: int = 1, bottleneck_width: int | None = None,
             zero_gamma: bool = False, fused_bn: bool = False):
    """ResNet-18: the seed's stem then four stages of two basic blocks.

    ``stage_widths`` (scaled by ``width``): the seed's final model used
    ``(64, 128, 256, 384)``. ``strides`` per stage: with a 48x144 input the stem leaves
    12x36, and the defaults give 12x36 -> 6x18 -> 3x9 -> 3x9 (the last stage keeps the
    3x9 map: 9 columns for 7-8 characters). ``preact=True`` is ResNet v2 (He et al. 2016b:
    BN-ReLU before each conv); ``cardinality > 1`` makes ResNeXt bottleneck blocks (1x1,
    grouped 3x3, 1x1; Xie et al. 2017) whose inner width equals the stage width (or
    ``cardinality * bottleneck_width``, doubling per stage, when that is given).
    ``zero_gamma`` starts each residual branch's last BN at zero (Goyal et al. 2017).
    """
    f = _Factory(conv_decay, bn_decay, bn_decay_type, fused_bn=fused_bn)
    x = _stem(f, inputs, width)
    for s, (w, n, stride) in enumerate(zip(stage_widths, blocks, strides)):
        filters = make_divisible(w * width)
        for b in range(n):
            block_name = f"stage{s + 1}_block{b + 1}"
            st = stride if b == 0 else 1
            if preact:
                x = _preact_block(f, x, filters, st, block_name)
            elif cardinality > 1:
                inner = (filters if bottleneck_width is None else
                         make_divisible(cardinality * bottleneck_width * 2 ** s * width))
                inner = max(cardinality, inner // cardinality * cardinality)
                x = _resnext_block(f, x, filters, inner, cardinality, st, block_name, zero_gamma)
            else:
                x = _basic_block(f, x, filters, st, block_name, zero_gamma)
    if preact:  # v2 ends with the BN-ReLU that the last block's output has not had
        x = f.bn(x, "post_bn")
        x = layers.ReLU(name="post_relu")(x)
    return x


def _is_one(stride) -> bool:
    return stride in (1, (1, 1), [1, 1])


def _shortcut(f, x, filters, stride, name):
    if _is_one(stride) and x.shape[-1] == filters:
        return x
    s = f.conv(x, filters, 1, stride, name=name + "_short_conv")
    return f.bn(s, name + "_short_bn")


def _basic_block(f, x, filters, stride, name, zero_gamma=False):
    shortcut = _shortcut(f, x, filters, stride, name)
    y = f.conv_bn(x, filters, 3, stride, name=name + "_a")
    y = f.conv(y, filters, 3, 1, name=name + "_b_conv")
    y = f.bn(y, name + "_b_bn", zero_gamma=zero_gamma)
    y = layers.Add(name=name + "_add")([shortcut, y])
    return layers.ReLU(name=name + "_out")(y)


def _preact_block(f, x, filters, stride, name):
    pre = layers.ReLU(name=name + "_pre_relu")(f.bn(x, name + "_pre_bn"))
    if _is_one(stride) and x.shape[-1] == filters:
        shortcut = x
    else:  # v2: the projection takes the pre-activated input
        shortcut = f.conv(pre, filters, 1, stride, name=name + "_short_conv")
    y = f.conv(pre, filters, 3, stride, name=name + "_a_conv")
    y = layers.ReLU(name=name + "_a_relu")(f.bn(y, name + "_a_bn"))
    y = f.conv(y, filters, 3, 1, name=name + "_b_conv")
    return layers.Add(name=name + "_add")([shortcut, y])


def _resnext_block(f, x, filters, inner, cardinality, stride, name, zero_gamma=False):
    """ResNeXt bottleneck: 1x1 reduce, grouped 3x3, 1x1 expand, plus the shortcut."""
    shortcut = _shortcut(f, x, filters, stride, name)
    y = f.conv_bn(x, inner, 1, 1, name=name + "_a")
    y = f.conv_bn(y, inner, 3, stride, name=name + "_b", groups=cardinality)
    y = f.conv(y, filters, 1, 1, name=name + "_c_conv")
    y = f.bn(y, name + "_c_bn", zero_gamma=zero_gamma)
    y = layers.Add(name=name + "_add")([shortcut, y])
    return layers.ReLU(name=name + "_out")(y)


def resnet18_v2(inputs, **kw):
    """Pre-activation ResNet-18 (He et al. 2016, "Identity mappings in deep residual networks")."""
    return resnet18(inputs, preact=True, **kw)


def resnext18(inputs, cardinality: int = 8, bottleneck_width: int | None = None, **kw):
    """ResNeXt with ResNet-18's stages: two bottleneck blocks per stage whose 3x3
    convolution is split into ``cardinality`` groups."""
    return resnet18(inputs, cardinality=cardinality, bottleneck_width=bottleneck_width, **kw)


# ---------------------------------------------------------------- MobileNet family


def mobilenet_v1(inputs, width: float = 1.0, conv_decay: float = 5e-4, bn_decay: float = 0.0,
                 bn_decay_type: str = "l2", strides: Sequence = (2, 2, 2, 1),
                 fused_bn: bool = False,
                 **_):
    """MobileNet v1 (Howard et al. 2017): depthwise-separable convolutions.

    A 3x3 stride-2 stem, then separable blocks of widths 64, 128, 128, 256, 256, 512 (x6),
    1024; ``strides`` are those of the first 128-, 256-, 512- and the 1024-wide block.
    ImageNet's version is 32x down; the defaults give 16x (48x144 -> 3x9).
    """
    f = _Factory(conv_decay, bn_decay, bn_decay_type, fused_bn=fused_bn)
    x = f.conv_bn(inputs, make_divisible(32 * width), 3, 2, name="stem", act="relu6")
    # (filters, stride) of each separable block; the stride list chooses the down-sampling
    plan = [(64, 1), (128, strides[0]), (128, 1), (256, strides[1]), (256, 1),
            (512, strides[2])] + [(512, 1)] * 5 + [(1024, strides[3])]
    for i, (c, s) in enumerate(plan):
        x = f.dwconv(x, 3, s, name=f"sep{i + 1}_dw")
        x = activation(f.bn(x, f"sep{i + 1}_dw_bn"), "relu6", f"sep{i + 1}_dw_relu")
        x = f.conv_bn(x, make_divisible(c * width), 1, 1, name=f"sep{i + 1}_pw", act="relu6")
    return x


def _inverted_residual(f, x, expand, filters, kernel, stride, act, se, name):
    """MobileNet v2/v3 block: 1x1 expand, depthwise kxk, optional squeeze-excite, 1x1 project,
    and a residual connection when shapes allow."""
    inp = x
    in_ch = x.shape[-1]
    if expand != in_ch:
        x = f.conv_bn(x, expand, 1, 1, name=name + "_expand", act=act)
    x = f.dwconv(x, kernel, stride, name=name + "_dw")
    x = activation(f.bn(x, name + "_dw_bn"), act, name + "_dw_" + act)
    if se:
        x = _squeeze_excite(f, x, name)
    x = f.conv_bn(x, filters, 1, 1, name=name + "_project", act=None)
    if _is_one(stride) and in_ch == filters:
        x = layers.Add(name=name + "_add")([inp, x])
    return x


def _squeeze_excite(f, x, name, ratio=0.25):
    ch = x.shape[-1]
    s = layers.GlobalAveragePooling2D(keepdims=True, name=name + "_se_pool")(x)
    s = layers.Conv2D(make_divisible(ch * ratio), 1, activation="relu",
                      kernel_regularizer=f.kernel_reg, name=name + "_se_reduce")(s)
    s = layers.Conv2D(ch, 1, activation="hard_sigmoid", kernel_regularizer=f.kernel_reg,
                      name=name + "_se_expand")(s)
    return layers.Multiply(name=name + "_se_mul")([x, s])


def mobilenet_v2(inputs, width: float = 1.0, conv_decay: float = 5e-4, bn_decay: float = 0.0,
                 bn_decay_type: str = "l2", strides: Sequence = (1, 2, 2, 2, 1, 1, 1),
                 fused_bn: bool = False, **_):
    """MobileNet v2 (Sandler et al. 2018): inverted residuals with linear bottlenecks.

    The paper's table (t, c, n, s) with the strides of the first stages relaxed for a
    48-pixel-high input: stem /2, then total /16 (48x144 -> 3x9).
    """
    f = _Factory(conv_decay, bn_decay, bn_decay_type, fused_bn=fused_bn)
    x = f.conv_bn(inputs, make_divisible(32 * width), 3, 2, name="stem", act="relu6")
    table = [(1, 16, 1), (6, 24, 2), (6, 32, 3), (6, 64, 4), (6, 96, 3), (6, 160, 3),
             (6, 320, 1)]
    for i, ((t, c, n), s) in enumerate(zip(table, strides)):
        filters = make_divisible(c * width)
        for j in range(n):
            x = _inverted_residual(f, x, make_divisible(x.shape[-1] * t) if t > 1 else x.shape[-1],
                                   filters, 3, s if j == 0 else 1, "relu6", False,
                                   f"block{i + 1}_{j + 1}")
    last = make_divisible(1280 * max(width, 1.0))
    return f.conv_bn(x, last, 1, 1, name="head", act="relu6")


def mobilenet_v3(inputs, width: float = 1.0, conv_decay: float = 5e-4, bn_decay: float = 0.0,
                 bn_decay_type: str = "l2", variant: str = "small", fused_bn: bool = False, **_):
    """MobileNet v3 (Howard et al. 2019): v2's blocks with squeeze-excite and hard-swish.

    ``variant="small"`` or ``"large"``: the paper's tables, with the first stride-2 block of
    each made stride 1 so that a 48x144 crop ends at 3x9 (16x down) instead of 2x5.
    """
    f = _Factory(conv_decay, bn_decay, bn_decay_type, fused_bn=fused_bn)
    # (kernel, expansion, out, SE, activation, stride)
    small = [(3, 16, 16, True, "relu", 1), (3, 72, 24, False, "relu", 2),
             (3, 88, 24, False, "relu", 1), (5, 96, 40, True, "hard_swish", 2),
             (5, 240, 40, True, "hard_swish", 1), (5, 240, 40, True, "hard_swish", 1),
             (5, 120, 48, True, "hard_swish", 1), (5, 144, 48, True, "hard_swish", 1),
             (5, 288, 96, True, "hard_swish", 2), (5, 576, 96, True, "hard_swish", 1),
             (5, 576, 96, True, "hard_swish", 1)]
    large = [(3, 16, 16, False, "relu", 1), (3, 64, 24, False, "relu", 1),
             (3, 72, 24, False, "relu", 1), (5, 72, 40, True, "relu", 2),
             (5, 120, 40, True, "relu", 1), (5, 120, 40, True, "relu", 1),
             (3, 240, 80, False, "hard_swish", 2), (3, 200, 80, False, "hard_swish", 1),
             (3, 184, 80, False, "hard_swish", 1), (3, 184, 80, False, "hard_swish", 1),
             (3, 480, 112, True, "hard_swish", 1), (3, 672, 112, True, "hard_swish", 1),
             (5, 672, 160, True, "hard_swish", 2), (5, 960, 160, True, "hard_swish", 1),
             (5, 960, 160, True, "hard_swish", 1)]
    if variant not in ("small", "large"):
        raise ValueError(f"mobilenet_v3 variant must be 'small' or 'large', not {variant!r}")
    table = small if variant == "small" else large
    x = f.conv_bn(inputs, make_divisible(16 * width), 3, 2, name="stem", act="hard_swish")
    for i, (k, e, c, se, act, s) in enumerate(table):
        x = _inverted_residual(f, x, make_divisible(e * width), make_divisible(c * width),
                               k, s, act, se, f"block{i + 1}")
    last = make_divisible(table[-1][1] * width)
    return f.conv_bn(x, last, 1, 1, name="head", act="hard_swish")


BACKBONES: dict[str, Callable] = {
    "resnet18": resnet18,
    "resnet18_v2": resnet18_v2,
    "resnext18": resnext18,
    "mobilenet_v1": mobilenet_v1,
    "mobilenet_v2": mobilenet_v2,
    "mobilenet_v3": mobilenet_v3,
}


def get_backbone(name: str, inputs, **kwargs):
    """Apply the backbone ``name`` to ``inputs`` (a Keras tensor) and return its feature map.

    Keyword arguments go to the backbone function (``width``, ``conv_decay``,
    ``bn_decay``, ``bn_decay_type``, ``stage_widths``, ``strides``, ...).
    """
    try:
        fn = BACKBONES[name]
    except KeyError:
        raise ValueError(f"unknown backbone {name!r}; choose one of {sorted(BACKBONES)}") from None
    return fn(inputs, **kwargs)
