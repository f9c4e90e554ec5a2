"""LPIPS-style perceptual loss (loss.perceptual_norm="lpips") against numpy references.

A small fake extractor stands in for VGG, so these tests need no weights; the
real hed_vgg16 extractor is checked in tests/test_perceptual_hed.py.
"""

import dataclasses
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from faceres_tf import losses, presets  # noqa: E402
from faceres_tf.config import LossConfig, override  # noqa: E402
from faceres_tf.errors import ConfigError  # noqa: E402
from faceres_tf.losses import perceptual_normalized as pn  # noqa: E402

EPS = pn.NORMALIZE_EPS


def _np_unit(phi):
    phi = phi.astype(np.float64)
    return phi / np.sqrt((phi ** 2).sum(-1, keepdims=True) + EPS ** 2)


def _np_feature(a, b, w):
    return sum(wi * ((_np_unit(x) - _np_unit(y)) ** 2).sum(-1).mean(axis=(1, 2))
               for wi, x, y in zip(w, a, b))


def _np_gram(phi):
    u = _np_unit(phi)
    n, h, w, c = u.shape
    flat = u.reshape(n, h * w, c)
    return np.einsum("bnc,bnd->bcd", flat, flat) / (h * w)


def _np_style(a, b, w):
    return sum(wi * ((_np_gram(x) - _np_gram(y)) ** 2).sum(axis=(1, 2))
               for wi, x, y in zip(w, a, b))


def _features(seed=0, batch=3, relu=False):
    rng = np.random.default_rng(seed)
    shapes = [(batch, 8, 8, 4), (batch, 4, 6, 5), (batch, 2, 2, 7)]
    a = [rng.normal(size=s).astype(np.float32) for s in shapes]
    b = [rng.normal(size=s).astype(np.float32) for s in shapes]
    if relu:
        a, b = [np.maximum(x, 0) for x in a], [np.maximum(x, 0) for x in b]
    return a, b


def test_unit_normalize_matches_numpy_and_has_unit_norm():
    a, _ = _features()
    got = pn.unit_normalize(a[1]).numpy()
    np.testing.assert_allclose(got, _np_unit(a[1]), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(np.linalg.norm(got, axis=-1), 1.0, rtol=1e-5)


def test_zero_feature_vectors_give_zero_and_finite_gradients():
    x = tf.Variable(np.zeros((1, 2, 2, 3), np.float32))
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(pn.unit_normalize(x))
    g = tape.gradient(y, x).numpy()
    assert np.all(pn.unit_normalize(x).numpy() == 0.0)
    assert np.all(np.isfinite(g))


@pytest.mark.parametrize("weights", [(1.0, 1.0, 1.0), (0.5, 0.0, 2.0)])
def test_feature_loss_matches_numpy(weights):
    a, b = _features(seed=1)
    got = pn.normalized_feature_loss(a, b, weights).numpy()
    assert got.shape == (3,)
    np.testing.assert_allclose(got, _np_feature(a, b, weights), rtol=1e-5)
    np.testing.assert_allclose(pn.normalized_feature_loss(a, a, weights).numpy(), 0.0, atol=1e-6)


def test_feature_loss_closed_form_two_minus_two_cosine():
    """One position: the layer's term is 2 - 2 cos(angle between the vectors)."""
    u = np.array([[[[3.0, 4.0]]]], np.float32)  # (1, 1, 1, 2)
    v = np.array([[[[4.0, 3.0]]]], np.float32)
    cos = (3 * 4 + 4 * 3) / 25.0
    np.testing.assert_allclose(pn.normalized_feature_loss([u], [v]).numpy(), [2 - 2 * cos], rtol=1e-6)
    np.testing.assert_allclose(pn.normalized_feature_loss([u], [-u]).numpy(), [4.0], rtol=1e-6)


def test_feature_and_style_are_bounded_and_scale_invariant():
    """Each layer lies in [0, 4 w] (feature) / [0, 2 w] (style), whatever the scale:
    multiplying a map by k > 0 changes nothing (why it cannot explode)."""
    a, b = _features(seed=2, relu=True)
    w = (1.0, 2.0, 0.5)
    f = pn.normalized_feature_loss(a, b, w).numpy()
    s = pn.normalized_style_loss(a, b, w).numpy()
    assert np.all(f >= 0) and np.all(f <= 4 * sum(w))
    assert np.all(s >= 0) and np.all(s <= 2 * sum(w))
    big = [x * 1e4 for x in a]
    np.testing.assert_allclose(pn.normalized_feature_loss(big, b, w).numpy(), f, rtol=1e-4)
    np.testing.assert_allclose(pn.normalized_style_loss(big, b, w).numpy(), s, rtol=1e-4)


@pytest.mark.parametrize("weights", [None, (0.3, 1.0, 0.0)])
def test_style_loss_matches_numpy(weights):
    a, b = _features(seed=3)
    w = weights or (1.0, 1.0, 1.0)
    got = pn.normalized_style_loss(a, b, weights).numpy()
    np.testing.assert_allclose(got, _np_style(a, b, w), rtol=1e-4, atol=1e-7)
    gram = pn.normalized_gram(a[0]).numpy()
    np.testing.assert_allclose(np.trace(gram, axis1=1, axis2=2), 1.0, rtol=1e-5)


def test_weights_and_layers_must_match():
    a, b = _features()
    with pytest.raises(ValueError, match="differ in length"):
        pn.normalized_feature_loss(a, b, (1.0, 1.0))


def test_downscale_is_the_block_mean():
    rng = np.random.default_rng(4)
    x = rng.uniform(-1, 1, (2, 8, 8, 3)).astype(np.float32)
    want = x.reshape(2, 2, 4, 2, 4, 3).mean(axis=(2, 4))
    np.testing.assert_allclose(pn.downscale(x, 2).numpy(), want, rtol=1e-5, atol=1e-6)
    assert pn.downscale(x, 0) is x and pn.downscale(x, 8) is x
    with pytest.raises(ValueError, match="must divide"):
        pn.downscale(x, 3)


def _fake_extractor():
    """Two ReLU conv layers (a VGG-like pyramid), fixed weights."""
    keras.utils.set_random_seed(0)
    inp = keras.Input((None, None, 3))
    f1 = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
    f2 = keras.layers.Conv2D(6, 3, strides=2, padding="same", activation="relu")(f1)
    return keras.Model(inp, [f1, f2])


def _lpips_cfg(**fields):
    base = dict(perceptual="vgg19", perceptual_norm="lpips", vgg_layers=("a", "b"),
                perceptual_layer_weights=(0.5, 2.0), lambda_pix=1.0, lambda_feature=0.3,
                lambda_style=0.7)
    base.update(fields)
    return LossConfig(**base)


@pytest.mark.parametrize("resolution", [0, 8])
def test_reconstruction_loss_lpips_matches_numpy(resolution):
    ex = _fake_extractor()
    rng = np.random.default_rng(5)
    p = rng.uniform(-1, 1, (2, 16, 16, 3)).astype(np.float32)
    t = rng.uniform(-1, 1, (2, 16, 16, 3)).astype(np.float32)
    cfg = _lpips_cfg(perceptual_resolution=resolution)
    out = losses.reconstruction_loss(p, t, cfg, extractor=ex)
    if resolution:  # the extractor sees the 2x2 block means
        ps, ts = (x.reshape(2, 8, 2, 8, 2, 3).mean(axis=(2, 4)) for x in (p, t))
    else:
        ps, ts = p, t
    fp = [f.numpy() for f in ex(ps)]
    ft = [f.numpy() for f in ex(ts)]
    w = cfg.perceptual_layer_weights
    np.testing.assert_allclose(out["feature"].numpy(), _np_feature(fp, ft, w), rtol=1e-4)
    np.testing.assert_allclose(out["style"].numpy(), _np_style(fp, ft, w), rtol=1e-3, atol=1e-7)
    l1 = np.abs(p - t).reshape(2, -1).mean(1)
    want = l1 + 0.3 * _np_feature(fp, ft, w) + 0.7 * _np_style(fp, ft, w)
    np.testing.assert_allclose(out["total"].numpy(), want, rtol=1e-4)


def test_lambda_style_zero_skips_the_gram_term():
    ex = _fake_extractor()
    rng = np.random.default_rng(6)
    p = rng.uniform(-1, 1, (2, 16, 16, 3)).astype(np.float32)
    out = losses.reconstruction_loss(p, -p, _lpips_cfg(lambda_style=0.0), extractor=ex)
    assert np.all(out["style"].numpy() == 0.0) and np.all(out["feature"].numpy() > 0)


def test_lpips_gradient_is_finite_and_reaches_pred_only():
    ex = _fake_extractor()
    p = tf.Variable(tf.random.stateless_uniform((2, 16, 16, 3), [1, 2], -1, 1))
    t = tf.Variable(tf.random.stateless_uniform((2, 16, 16, 3), [3, 4], -1, 1))
    with tf.GradientTape(persistent=True) as tape:
        total = tf.reduce_sum(losses.reconstruction_loss(p, t, _lpips_cfg(lambda_pix=0.0),
                                                         extractor=ex)["total"])
    gp = tape.gradient(total, p).numpy()
    assert np.all(np.isfinite(gp)) and np.abs(gp).sum() > 0
    gt = tape.gradient(total, t)
    assert gt is None or not np.any(gt.numpy())


def test_perceptual_layers_pairs_names_with_positive_weights():
    cfg = LossConfig(perceptual="hed_vgg16", perceptual_layer_weights=(1, 0.5, 2, 0, 0))
    assert losses.perceptual_layers(cfg) == (
        ("block1_conv2", 1.0), ("block2_conv2", 0.5), ("block3_conv3", 2.0))
    vgg19 = LossConfig(perceptual="vgg19", perceptual_layer_weights=(0, 0, 0, 0, 3))
    assert losses.perceptual_layers(vgg19) == (("block5_conv4", 3.0),)
    with pytest.raises(ValueError, match="has 2 values"):
        losses.perceptual_layers(dataclasses.replace(cfg, perceptual_layer_weights=(1.0, 1.0)))
    with pytest.raises(ValueError, match="all 0"):
        losses.perceptual_layers(dataclasses.replace(cfg, perceptual_layer_weights=(0.0,) * 5))
    assert losses.build_perceptual_extractor(LossConfig(perceptual="off")) is None


def test_config_fields_parse_and_validate():
    cfg = presets.get("tiny")
    assert cfg.loss.perceptual_norm == "raw" and cfg.loss.perceptual_resolution == 0
    assert cfg.loss.perceptual_layer_weights == (1.0,) * 5  # presets unchanged
    on = override(cfg, {"loss.perceptual_norm": "lpips", "loss.perceptual_resolution": "32",
                        "loss.perceptual_layer_weights": "1,1,0.5,0,0"})
    assert on.loss.perceptual_layer_weights == (1.0, 1.0, 0.5, 0.0, 0.0)
    assert on.loss.perceptual_resolution == 32
    with pytest.raises(ConfigError, match="loss.perceptual_norm must be one of"):
        override(cfg, {"loss.perceptual_norm": "cosine"})
    with pytest.raises(ConfigError, match="must divide model.resolution=64"):
        override(cfg, {"loss.perceptual_resolution": "48"})
    with pytest.raises(ConfigError, match="perceptual_layer_weights must be >= 0"):
        override(cfg, {"loss.perceptual_layer_weights": "1,-1,0,0,0"})
