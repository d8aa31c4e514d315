"""The plate reader: output contract, the stacked heads, parameter and MAC counts."""
import keras
import numpy as np
import pytest

from lpr_lib.model import (CharacterAttention, ModelConfig, build_model, count_flops,
                           count_params)
from lpr_lib.plates import KINDS, MAX_LEN, NUM_CLASSES


@pytest.fixture(scope="module")
def model():
    return build_model(ModelConfig(width=0.25))


def test_outputs_follow_the_contract(model):
    x = np.random.default_rng(0).normal(size=(3, 48, 144, 3)).astype("float32")
    out = model(x, training=False)
    assert set(out) == {"chars", "length"}
    assert tuple(out["chars"].shape) == (3, MAX_LEN, NUM_CLASSES)
    assert tuple(out["length"].shape) == (3, 2)
    np.testing.assert_allclose(np.sum(out["chars"], -1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.sum(out["length"], -1), 1.0, atol=1e-5)


def test_one_stacked_dense_is_eight_independent_heads(model):
    """Dense(8*C) reshaped to (8, C) with a softmax per row == 8 Dense(C) + softmax."""
    feats = np.random.default_rng(1).normal(size=(4, model.get_layer("pool").output.shape[-1]))
    kernel, bias = model.get_layer("char_logits").get_weights()
    stacked = keras.activations.softmax(
        (feats @ kernel + bias).reshape(4, MAX_LEN, NUM_CLASSES), axis=-1)
    for k in range(MAX_LEN):
        cols = slice(k * NUM_CLASSES, (k + 1) * NUM_CLASSES)
        head = keras.layers.Dense(NUM_CLASSES, activation="softmax")
        head.build((None, feats.shape[-1]))
        head.set_weights([kernel[:, cols], bias[cols]])
        np.testing.assert_allclose(head(feats.astype("float32")), stacked[:, k], atol=1e-6)


def test_head_regularizers_and_options():
    cfg = ModelConfig(width=0.25, conv_decay=1e-4, pooling="flatten", dropout=0.2, kind_head=True)
    m = build_model(cfg)
    assert isinstance(m.get_layer("pool"), keras.layers.Flatten)
    assert isinstance(m.get_layer("dropout"), keras.layers.Dropout)
    assert isinstance(m.get_layer("char_logits").kernel_regularizer, keras.regularizers.L2)
    assert m.output["kind"].shape[-1] == len(KINDS)
    with pytest.raises(ValueError, match="pooling must be one of flatten, avg, attention"):
        build_model(ModelConfig(pooling="max"))


def test_image_size_is_configurable():
    m = build_model(ModelConfig(width=0.25), image_size=(32, 96))
    assert tuple(m.input.shape[1:]) == (32, 96, 3)
    assert m(np.zeros((1, 32, 96, 3), "float32"))["chars"].shape[1:] == (MAX_LEN, NUM_CLASSES)


def test_count_params_matches_keras(model):
    assert count_params(model) == model.count_params()
    assert count_params(model, trainable_only=True) < count_params(model)


def test_count_flops_by_hand():
    """A two-layer model whose MACs are easy to count by hand."""
    inputs = keras.Input((8, 10, 3))
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same", use_bias=False)(inputs)  # 4x5x4
    x = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False)(x)  # 4x5x4
    x = keras.layers.Conv2D(8, 1, groups=2, use_bias=False)(x)  # 4x5x8, 2 groups of 2 in
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(5)(x)
    m = keras.Model(inputs, out)
    expected = 4 * 5 * 4 * 9 * 3 + 4 * 5 * 4 * 9 + 4 * 5 * 8 * 2 + 8 * 5
    got = count_flops(m)
    assert got["macs"] == expected and got["flops"] == 2 * expected


def test_count_flops_grows_with_width_and_checks_size(model):
    wide = build_model(ModelConfig(width=0.5))
    assert count_flops(wide)["macs"] > 3 * count_flops(model)["macs"]
    with pytest.raises(ValueError, match="build it at that size"):
        count_flops(model, input_shape=(32, 96))


def _softmax(z, axis):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def test_character_attention_against_numpy():
    """Each position's glimpse is the softmax(over cells)-weighted sum of the cells' features."""
    rng = np.random.default_rng(3)
    feats = rng.normal(size=(2, 3, 5, 6)).astype("float32")
    layer = CharacterAttention(4)
    glimpses, maps = layer(feats, return_attention=True)
    kernel, bias = layer.score.get_weights()  # (1, 1, 6, 4), (4,)
    scores = feats.reshape(2, 15, 6) @ kernel[0, 0] + bias  # (2, 15, 4)
    weights = _softmax(scores, axis=1)
    expected = np.einsum("bnk,bnc->bkc", weights, feats.reshape(2, 15, 6))
    np.testing.assert_allclose(glimpses, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(maps).reshape(2, 15, 4), weights, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(np.asarray(maps).sum(axis=(1, 2)), 1.0, atol=1e-5)


def test_attention_head_classifies_each_position_with_its_own_weights(tmp_path):
    m = build_model(ModelConfig(width=0.25, pooling="attention", conv_decay=1e-4,
                                kind_head=True), image_size=(32, 96))
    x = np.random.default_rng(4).normal(size=(2, 32, 96, 3)).astype("float32")
    out = m(x, training=False)
    assert tuple(out["chars"].shape) == (2, MAX_LEN, NUM_CLASSES)
    assert tuple(out["length"].shape) == (2, 2) and out["kind"].shape[-1] == len(KINDS)
    pool, head = m.get_layer("pool"), m.get_layer("char_logits")
    c = pool.input.shape[-1]
    assert tuple(head.kernel.shape) == (MAX_LEN, c, NUM_CLASSES)
    # the logits of position k are glimpse k times kernel k, plus bias k
    feats = keras.Model(m.input, pool.input)(x)
    glimpses = np.asarray(pool(feats))
    kernel, bias = head.get_weights()
    logits = np.einsum("bkc,kcn->bkn", glimpses, kernel) + bias
    np.testing.assert_allclose(out["chars"], _softmax(logits, -1), rtol=1e-4, atol=1e-6)
    # the regularizer reaches the scores and the classifiers
    assert isinstance(pool.score.kernel_regularizer, keras.regularizers.L2)
    # MACs: 1x1 scores and weighted sums over the 2x6 map, then 8 (C x 74) products
    per_layer = count_flops(m)["per_layer"]
    assert per_layer["pool"] == 2 * 2 * 6 * c * MAX_LEN
    assert per_layer["char_logits"] == MAX_LEN * c * NUM_CLASSES
    # saved and loaded, it computes the same function
    m.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras", compile=False)
    np.testing.assert_allclose(again(x, training=False)["chars"], out["chars"], atol=1e-6)
