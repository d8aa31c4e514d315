"""Every backbone builds at 48x144, carries the weight decay it was asked for, and the
ResNet keeps the seed's stem and bias-free convolutions."""
import keras
import numpy as np
import pytest

from lpr_lib import backbones
from lpr_lib.backbones import BACKBONES, get_backbone, make_divisible


def build(name, **kw):
    inputs = keras.Input((48, 144, 3))
    return keras.Model(inputs, get_backbone(name, inputs, **kw))


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_every_backbone_builds_at_48x144_width_quarter(name):
    model = build(name, width=0.25)
    out = model(np.zeros((2, 48, 144, 3), "float32"), training=False)
    # 16x down-sampling everywhere: 3x9 columns are left for 7-8 characters
    assert tuple(out.shape[:3]) == (2, 3, 9)
    assert out.shape[-1] % 8 == 0


@pytest.mark.parametrize("value, expected", [(64 * 0.25, 16), (64 * 0.5, 32), (384 * 0.25, 96),
                                             (3, 8), (20, 24)])
def test_make_divisible_rounds_to_multiples_of_8(value, expected):
    assert make_divisible(value) == expected


def test_width_scales_channels():
    wide, narrow = build("resnet18", width=1.0, stage_widths=(64, 128, 256, 384)), \
        build("resnet18", width=0.25, stage_widths=(64, 128, 256, 384))
    assert wide.output.shape[-1] == 384 and narrow.output.shape[-1] == 96
    assert narrow.count_params() < wide.count_params() / 8


def test_resnet18_has_the_seeds_stem_and_no_conv_bias():
    model = build("resnet18", width=0.5)
    stem = model.get_layer("stem_conv")
    assert stem.kernel_size == (3, 3) and stem.strides == (2, 2)
    pool = model.get_layer("stem_pool")
    assert isinstance(pool, keras.layers.MaxPooling2D) and pool.strides == (2, 2)
    assert pool.pool_size == (3, 3)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(convs) == 1 + 16 + 3  # stem, 8 blocks x 2, 3 projection shortcuts
    assert all(not c.use_bias for c in convs)
    # 2 basic blocks in each of the 4 stages
    assert sum(1 for layer in model.layers if layer.name.endswith("_add")) == 8


def test_regularizers_are_where_configured():
    model = build("resnet18", width=0.25, conv_decay=5e-4, bn_decay=1e-3, bn_decay_type="l1")
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert all(isinstance(c.kernel_regularizer, keras.regularizers.L2) for c in convs)
    assert all(c.kernel_regularizer.l2 == pytest.approx(5e-4) for c in convs)
    assert all(isinstance(b.gamma_regularizer, keras.regularizers.L1) for b in bns)
    assert all(b.beta_regularizer is None for b in bns)
    # model.losses carries one term per regularized weight, and its value is the formula
    model(np.zeros((1, 48, 144, 3), "float32"))
    assert len(model.losses) == len(convs) + len(bns)
    expected = sum(5e-4 * float(np.sum(c.kernel.numpy() ** 2)) for c in convs) + \
        sum(1e-3 * float(np.sum(np.abs(b.gamma.numpy()))) for b in bns)
    assert float(sum(model.losses)) == pytest.approx(expected, rel=1e-4)


def test_bn_l2_and_no_decay():
    l2 = build("mobilenet_v2", width=0.25, conv_decay=0.0, bn_decay=1e-4, bn_decay_type="l2")
    bns = [layer for layer in l2.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert all(isinstance(b.gamma_regularizer, keras.regularizers.L2) for b in bns)
    assert all(getattr(layer, "kernel_regularizer", None) is None for layer in l2.layers)
    assert all(getattr(layer, "depthwise_regularizer", None) is None for layer in l2.layers)
    none = build("resnet18", width=0.25, conv_decay=0.0, bn_decay=0.0)
    assert none.losses == []


def test_mobilenets_regularize_depthwise_kernels():
    model = build("mobilenet_v1", width=0.25, conv_decay=1e-4)
    dws = [layer for layer in model.layers if isinstance(layer, keras.layers.DepthwiseConv2D)]
    assert dws and all(isinstance(d.depthwise_regularizer, keras.regularizers.L2) for d in dws)


def test_resnext_uses_grouped_convolutions():
    model = build("resnext18", width=0.5, cardinality=8)
    grouped = [layer for layer in model.layers
               if isinstance(layer, keras.layers.Conv2D) and layer.groups == 8]
    assert len(grouped) == 8  # the 3x3 of each of the 8 blocks


def test_resnet_v2_is_preactivation():
    model = build("resnet18_v2", width=0.25)
    # each block starts with BN + ReLU on its input; the network ends with BN + ReLU
    assert model.get_layer("stage1_block1_pre_bn") and model.get_layer("post_relu")
    assert model.layers[-1].name == "post_relu"


def test_mobilenet_v3_has_hard_swish_and_squeeze_excite():
    model = build("mobilenet_v3", width=0.25)
    acts = {layer.get_config()["activation"] for layer in model.layers
            if isinstance(layer, keras.layers.Activation)}
    assert "hard_silu" in acts  # Keras names hard-swish hard_silu
    assert any(layer.name.endswith("_se_mul") for layer in model.layers)
    with pytest.raises(ValueError, match="variant"):
        build("mobilenet_v3", variant="medium")


def test_unknown_backbone_and_decay_type_are_named():
    with pytest.raises(ValueError, match="resnet50"):
        build("resnet50")
    with pytest.raises(ValueError, match="l3"):
        build("resnet18", bn_decay=1e-3, bn_decay_type="l3")


def test_backbones_module_exports():
    assert set(backbones.__all__) >= {"get_backbone", "resnet18", "mobilenet_v3"}


def _same_random_weights(shape, *layers):
    """Build ``layers`` for inputs of ``shape`` and give them all the same random weights."""
    for layer in layers:
        layer.build(shape)
    rng = np.random.default_rng(1)
    weights = [rng.normal(size=w.shape).astype("float32") for w in layers[-1].get_weights()]
    for layer in layers:
        layer.set_weights(weights)

@pytest.mark.parametrize("strides", [1, 2])
def test_grouped_conv_is_keras_grouped_conv_one_group_at_a_time(strides, tmp_path):
    """GroupedConv2D (a convolution a group, concatenated) gives Keras' grouped Conv2D's
    outputs and gradients with the same weights, and saves and loads as itself."""
    import tensorflow as tf

    from lpr_lib.backbones import GroupedConv2D

    x = np.random.default_rng(0).normal(size=(2, 9, 12, 16)).astype("float32")
    ours = GroupedConv2D(24, 3, strides=strides, padding="same", groups=4, use_bias=True)
    ref = keras.layers.Conv2D(24, 3, strides=strides, padding="same", groups=4, use_bias=True)
    _same_random_weights(x.shape, ours, ref)
    np.testing.assert_allclose(ours(x), ref(x), atol=1e-4)
    grads = []
    for layer in (ours, ref):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(x) ** 2)
        grads.append(tape.gradient(loss, layer.kernel))
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-4, atol=1e-3)
    inp = keras.Input((9, 12, 16))
    model = keras.Model(inp, GroupedConv2D(8, 3, groups=2, padding="same")(inp))
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras")
    assert type(again.layers[-1]).__name__ == "GroupedConv2D"
    np.testing.assert_allclose(again(x[..., :16]), model(x[..., :16]), atol=1e-6)


@pytest.mark.parametrize("kernel,strides,padding,size", [
    (3, 1, "same", (9, 12)), (3, 2, "same", (9, 12)), (5, 2, "same", (8, 13)),
    (3, 1, "valid", (9, 12)), (5, 2, "valid", (11, 14))])
def test_shifted_depthwise_trains_as_keras_depthwise(kernel, strides, padding, size, tmp_path):
    """ShiftedDepthwiseConv2D's training path (shifted products) gives Keras'
    DepthwiseConv2D's outputs and gradients (inputs, kernel, bias) with the same weights;
    inference is Keras' own op; it saves and loads as itself."""
    import tensorflow as tf

    from lpr_lib.backbones import ShiftedDepthwiseConv2D

    x = tf.constant(np.random.default_rng(0).normal(size=(2, *size, 6)).astype("float32"))
    args = dict(kernel_size=kernel, strides=strides, padding=padding, use_bias=True)
    ours, ref = ShiftedDepthwiseConv2D(**args), keras.layers.DepthwiseConv2D(**args)
    _same_random_weights(x.shape, ours, ref)
    outs, grads = [], []
    for layer, training in ((ours, True), (ref, None)):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=training) if training else layer(x)
            loss = tf.reduce_sum(y ** 2 * tf.range(1.0, 1.0 + y.shape[-1]))
        outs.append(y)
        grads.append(tape.gradient(loss, [x, layer.kernel, layer.bias]))
    assert outs[0].shape == outs[1].shape
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-5, atol=1e-4)
    for ours_grad, ref_grad in zip(*grads):
        np.testing.assert_allclose(ours_grad, ref_grad, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(ours(x, training=False), outs[1], rtol=1e-6, atol=1e-5)
    inp = keras.Input((*size, 6))
    model = keras.Model(inp, ShiftedDepthwiseConv2D(3, padding="same")(inp))
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras")
    assert type(again.layers[-1]).__name__ == "ShiftedDepthwiseConv2D"
    np.testing.assert_allclose(again(x), model(x), atol=1e-6)


def test_mobilenets_use_the_shifted_depthwise_conv():
    from lpr_lib.backbones import ShiftedDepthwiseConv2D
    from lpr_lib.config import ModelConfig
    from lpr_lib.model import build_model

    for name in ("mobilenet_v1", "mobilenet_v2", "mobilenet_v3"):
        m = build_model(ModelConfig(backbone=name, width=0.25), image_size=(48, 144))
        depthwise = [layer for layer in m.layers
                     if isinstance(layer, keras.layers.DepthwiseConv2D)]
        assert depthwise and all(type(layer) is ShiftedDepthwiseConv2D for layer in depthwise)


def test_resnext_uses_the_grouped_conv_and_plain_convs_stay_plain():
    from lpr_lib.backbones import GroupedConv2D
    from lpr_lib.config import ModelConfig
    from lpr_lib.model import build_model

    m = build_model(ModelConfig(backbone="resnext18"), image_size=(32, 96))
    grouped = [layer for layer in m.layers if isinstance(layer, GroupedConv2D)]
    assert grouped and all(layer.groups == 8 for layer in grouped)
    assert all(type(layer) is keras.layers.Conv2D for layer in m.layers
               if isinstance(layer, keras.layers.Conv2D) and layer.groups == 1)
