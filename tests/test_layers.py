"""One shared harness over every custom layer, plus closed-form checks."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from faceres_tf import layers as L

RNG = np.random.default_rng(0)


def _rand(*shape):
    return RNG.standard_normal(shape).astype("float32")


SEEDS = np.array([3, -1], dtype="int32")

# (layer factory, call args (positional tensors), call kwargs, trainable weights, non-trainable)
CASES = {
    "EqualizedDense": (lambda: L.EqualizedDense(5, bias_init=1.0), [_rand(2, 7)], {}, 2, 0),
    "EqualizedConv2D": (lambda: L.EqualizedConv2D(6, 3, strides=2), [_rand(2, 8, 8, 3)], {}, 2, 0),
    "ResBlock": (lambda: L.ResBlock(8), [_rand(2, 16, 16, 3)], {}, 5, 0),
    "AttentionPooling": (lambda: L.AttentionPooling(), [_rand(2, 4, 4, 6)], {}, 0, 0),
    "ModulatedConv2D": (lambda: L.ModulatedConv2D(8, 3), [_rand(2, 8, 8, 4), _rand(2, 6)], {}, 3, 0),
    "NoiseInjection": (
        lambda: L.NoiseInjection(2, strength_init=0.5), [_rand(2, 8, 8, 4)], {"noise_seed": SEEDS}, 1, 0),
    "StyleBlock_concat": (
        lambda: L.StyleBlock(8, noise_id=0, use_skip=True, noise_strength_init=0.1),
        [_rand(2, 4, 4, 4), _rand(2, 6)], {"noise_seed": SEEDS, "skip": _rand(2, 8, 8, 5)}, 10, 0),
    "StyleBlock_add": (
        lambda: L.StyleBlock(8, noise_id=0, use_skip=True, skip_fusion="add", upsample="nearest"),
        [_rand(2, 4, 4, 4), _rand(2, 6)], {"noise_seed": SEEDS, "skip": _rand(2, 8, 8, 5)}, 12, 0),
    "StyleBlock_noskip": (
        lambda: L.StyleBlock(8, noise_id=4), [_rand(2, 4, 4, 4), _rand(2, 6)], {"noise_seed": SEEDS}, 10, 0),
    "ToRGB": (lambda: L.ToRGB(3), [_rand(2, 8, 8, 4), _rand(2, 6)], {}, 4, 0),
    "MinibatchStd": (lambda: L.MinibatchStd(4, 1), [_rand(4, 4, 4, 6)], {}, 0, 0),
    "FeatureQuantizer": (lambda: L.FeatureQuantizer(16), [_rand(2, 4, 4, 6)], {}, 0, 3),
}


def _symbolic(value):
    if value.dtype == np.int32:
        return keras.Input(value.shape[1:], dtype="int32", batch_size=value.shape[0])
    return keras.Input(value.shape[1:], batch_size=value.shape[0])


@pytest.mark.parametrize("name", sorted(CASES))
def test_layer_contract(name):
    factory, args, kwargs, n_trainable, n_frozen = CASES[name]
    layer = factory()

    # Config round trip: from_config(get_config) rebuilds an equal config.
    config = layer.get_config()
    clone = layer.__class__.from_config(config)
    assert clone.get_config() == config
    # Registered for serialization.
    assert keras.saving.get_registered_object(
        keras.saving.get_registered_name(layer.__class__)) is layer.__class__
    revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(revived) is type(layer)

    # Eager output vs symbolic output shape.
    out = layer(*args, **kwargs)
    sym_args = [_symbolic(a) for a in args]
    sym_kwargs = {k: _symbolic(v) for k, v in kwargs.items()}
    sym_out = clone(*sym_args, **sym_kwargs)
    assert tuple(sym_out.shape) == tuple(out.shape)

    # Weight counts.
    assert len(layer.trainable_weights) == n_trainable
    assert len(layer.non_trainable_weights) == n_frozen

    # One optimizer step with finite gradients that changes the weights.
    if n_trainable:
        opt = keras.optimizers.Adam(1e-2)
        before = [w.numpy().copy() for w in layer.trainable_weights]
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(layer(*args, **kwargs)))
        grads = tape.gradient(loss, layer.trainable_weights)
        assert all(g is not None and np.all(np.isfinite(g.numpy())) for g in grads)
        opt.apply_gradients(zip(grads, layer.trainable_weights))
        changed = [not np.allclose(b, w.numpy()) for b, w in zip(before, layer.trainable_weights)]
        assert any(changed)


def test_attention_pooling_matches_numpy_and_has_no_weights():
    x = _rand(3, 4, 4, 8)
    layer = L.AttentionPooling()
    out = layer(x).numpy()
    assert layer.weights == []
    tokens = x.reshape(3, 16, 8).astype(np.float64)
    q = tokens.mean(axis=1, keepdims=True)
    logits = (tokens * q).sum(-1) / math.sqrt(8)
    a = np.exp(logits - logits.max(1, keepdims=True))
    a /= a.sum(1, keepdims=True)
    ref = (a[:, :, None] * tokens).sum(1)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)


def test_demodulated_conv_keeps_unit_variance():
    layer = L.ModulatedConv2D(64, 3)
    x = RNG.standard_normal((4, 32, 32, 128)).astype("float32")
    w = (RNG.standard_normal((4, 32)) * 3.0).astype("float32")  # arbitrary styles
    y = layer(x, w).numpy()
    inner = y[:, 1:-1, 1:-1, :]  # away from zero padding
    assert 0.95 < inner.std() < 1.05
    # Each output channel of each sample has unit expected variance.
    per = inner.reshape(4, -1, 64).std(axis=1)
    assert np.all((per > 0.8) & (per < 1.2))


def test_modulated_conv_equals_per_sample_weight_modulation():
    layer = L.ModulatedConv2D(5, 3)
    x, w = _rand(2, 6, 6, 4), _rand(2, 3)
    y = layer(x, w).numpy()
    styles = layer.affine(w).numpy()
    k = layer.kernel.numpy() * layer.weight_scale
    for b in range(2):
        wk = k * styles[b][None, None, :, None]
        wk = wk / np.sqrt((wk**2).sum(axis=(0, 1, 2), keepdims=True) + 1e-8)
        ref = tf.nn.conv2d(x[b:b + 1], wk, 1, "SAME").numpy()
        np.testing.assert_allclose(y[b:b + 1], ref, rtol=1e-4, atol=1e-5)


def test_minibatch_std_hand_made():
    # batch 4, group 2: groups are samples {0, 2} and {1, 3}.
    x = np.zeros((4, 2, 2, 2), np.float32)
    x[0] = 1.0
    x[2] = 3.0  # group m=0: values 1 and 3 -> std 1
    x[1] = 5.0
    x[3] = 5.0  # group m=1: identical -> std ~0
    y = L.MinibatchStd(group_size=2, num_features=1)(x).numpy()
    assert y.shape == (4, 2, 2, 3)
    np.testing.assert_allclose(y[..., :2], x)
    np.testing.assert_allclose(y[0, ..., 2], 1.0, atol=1e-4)
    np.testing.assert_allclose(y[2, ..., 2], 1.0, atol=1e-4)
    np.testing.assert_allclose(y[1, ..., 2], 0.0, atol=1e-3)
    np.testing.assert_allclose(y[3, ..., 2], 0.0, atol=1e-3)
    # Batch not divisible by the group size: falls back to a divisor (3 -> 3).
    assert L.MinibatchStd(group_size=4)(_rand(3, 2, 2, 2)).shape == (3, 2, 2, 3)


def test_noise_is_seeded_per_sample_and_zero_for_negative_seeds():
    n1 = L.per_sample_noise(np.array([7, 8, -1], np.int32), 5, 5, noise_id=1).numpy()
    n2 = L.per_sample_noise(np.array([8], np.int32), 5, 5, noise_id=1).numpy()
    np.testing.assert_array_equal(n1[1], n2[0])  # same seed, other batch -> identical
    assert not np.allclose(n1[0], n1[1])
    assert np.all(n1[2] == 0.0)
    n3 = L.per_sample_noise(np.array([7], np.int32), 5, 5, noise_id=2).numpy()
    assert not np.allclose(n1[0], n3[0])  # another layer draws another stream


def test_feature_quantizer_snaps_to_codes_and_updates_ema():
    layer = L.FeatureQuantizer(8, decay=0.5)
    x = _rand(2, 4, 4, 3)
    out = layer(x).numpy()
    book = layer.codebook.numpy()
    # Every output token is one of the codes.
    d = ((out.reshape(-1, 1, 3) - book[None]) ** 2).sum(-1).min(1)
    assert np.all(d < 1e-8)
    before = book.copy()
    layer(x, training=True)
    assert not np.allclose(before, layer.codebook.numpy())
    assert len(layer.losses) == 1 and float(layer.losses[0]) > 0
    # Straight-through: the gradient reaches the input.
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = tf.reduce_sum(layer(xt))
    np.testing.assert_allclose(tape.gradient(y, xt).numpy(), 1.0)


def test_minibatch_std_compiles_with_xla():
    layer = L.MinibatchStd(group_size=4)
    x = _rand(6, 4, 4, 4)  # 6 is not divisible by 4: group size 3
    eager = layer(x).numpy()
    compiled = tf.function(lambda t: layer(t), jit_compile=True)(tf.constant(x)).numpy()
    np.testing.assert_allclose(compiled, eager, rtol=1e-5, atol=1e-6)


def test_per_sample_noise_is_tensorflows_stateless_normal():
    """The noise stream is exactly tf.random.stateless_normal keyed by (seed,
    noise_id): checkpoints trained before the keras.ops rewrite see the same
    noise, bit for bit, whatever the batch."""
    seeds = np.array([0, 17, -3, 2**31 - 1], np.int32)
    got = L.per_sample_noise(seeds, 6, 5, noise_id=9).numpy()
    for i, s in enumerate(seeds):
        ref = tf.random.stateless_normal([6, 5, 1], seed=[int(s), 9]).numpy()
        np.testing.assert_array_equal(got[i], ref * (s >= 0))
    # Inside a tf.function with a dynamic batch and size: the same values.
    fn = tf.function(lambda s, h: L.per_sample_noise(s, h, 5, noise_id=9),
                     input_signature=[tf.TensorSpec([None], tf.int32), tf.TensorSpec([], tf.int32)])
    np.testing.assert_array_equal(fn(seeds[1:2], 6).numpy()[0], got[1])  # one face: no loop
    np.testing.assert_array_equal(fn(seeds[:3], 6).numpy(), got[:3])  # several: the loop
    for i in (1, 2):  # a static batch of one (the inference fast path), negative seed included
        np.testing.assert_array_equal(L.per_sample_noise(seeds[i:i + 1], 6, 5, noise_id=9).numpy()[0], got[i])


def test_noise_injection_takes_explicit_noise():
    layer = L.NoiseInjection(3, strength_init=0.5)
    x = _rand(2, 4, 4, 3)
    noise = _rand(2, 4, 4, 1)
    np.testing.assert_allclose(layer(x, noise=noise).numpy(), x + 0.5 * noise, rtol=1e-6)
    seeds = np.array([1, 2], np.int32)
    drawn = L.per_sample_noise(seeds, 4, 4, 3).numpy()
    np.testing.assert_array_equal(layer(x, noise_seed=seeds).numpy(), layer(x, noise=drawn).numpy())
    with pytest.raises(ValueError, match="noise_seed or an explicit noise"):
        layer(x)


def test_minibatch_std_with_dynamic_batch_matches_static():
    layer = L.MinibatchStd(group_size=4)
    for batch in (1, 3, 6, 8):
        x = _rand(batch, 4, 4, 4)
        fn = tf.function(lambda t: layer(t), input_signature=[tf.TensorSpec([None, 4, 4, 4], tf.float32)])
        np.testing.assert_allclose(fn(tf.constant(x)).numpy(), layer(x).numpy(), rtol=1e-6, atol=1e-7)


# ---- inference folding: each layer's folded form equals its training form ----
# Folding only reassociates float32 products and sums, so the tolerance is a
# few float32 ulps of the output's magnitude.
FOLD_RTOL = 2e-6


def _assert_fold_close(a, b):
    a, b = np.asarray(a), np.asarray(b)
    np.testing.assert_allclose(a, b, rtol=0, atol=FOLD_RTOL * max(1.0, np.abs(b).max()))


def _twin(layer, *args, **kwargs):
    """A second layer with the same config and weights (built by a call)."""
    twin = layer.__class__.from_config(layer.get_config())
    twin(*args, **kwargs)
    twin.set_weights(layer.get_weights())
    return twin


def test_equalized_conv_fold_with_gains():
    layer = L.EqualizedConv2D(5, 3, strides=2)
    x = _rand(2, 8, 8, 3)
    layer(x)
    layer.bias.assign(_rand(5))
    ref = layer(x * 1.7).numpy() * 0.3
    folded = _twin(layer, x)
    folded.fold(input_gain=1.7, output_scale=0.3)
    _assert_fold_close(folded(x), ref)


@pytest.mark.parametrize("weight_modulation", [False, True])
@pytest.mark.parametrize("batch", [1, 3])
def test_modulated_conv_fold_both_forms(weight_modulation, batch):
    layer = L.ModulatedConv2D(6, 3)
    x, w = _rand(batch, 8, 8, 4), _rand(batch, 5)
    gain = np.array([1.5, 1.0, 0.5, 2.0], np.float32)
    ref = layer(x * gain, w).numpy()
    folded = _twin(layer, x, w)
    folded.fold(input_gain=gain, weight_modulation=weight_modulation)
    _assert_fold_close(folded(x, w), ref)


def test_resblock_fold():
    layer = L.ResBlock(8)
    x = _rand(2, 16, 16, 3)
    layer(x)
    for v in layer.weights:
        if "bias" in v.path:
            v.assign(_rand(*v.shape))
    folded = _twin(layer, x)
    folded.fold()
    _assert_fold_close(folded(x), layer(x))


@pytest.mark.parametrize("name", ["StyleBlock_concat", "StyleBlock_add", "StyleBlock_noskip"])
def test_style_block_fold_with_deferred_gains(name):
    factory, args, kwargs, _, _ = CASES[name]
    layer = factory()
    layer(*args, **kwargs)
    for v in layer.weights:
        if "bias" in v.path or "strength" in v.path:
            v.assign(_rand(*v.shape) if v.shape else 0.4)
    x = args[0]
    ref = layer(x * np.float32(math.sqrt(2.0)), *args[1:], **kwargs).numpy()
    folded = _twin(layer, *args, **kwargs)
    folded.fold(input_gain=math.sqrt(2.0), defer_output_gain=True)
    _assert_fold_close(folded(*args, **kwargs).numpy() * math.sqrt(2.0), ref)


def test_to_rgb_fold():
    layer = L.ToRGB(3)
    x, w = _rand(2, 8, 8, 4), _rand(2, 6)
    layer(x, w)
    layer.bias.assign(_rand(3))
    folded = _twin(layer, x, w)
    folded.fold(input_gain=2.0)
    _assert_fold_close(folded(x, w), layer(x * 2.0, w))
