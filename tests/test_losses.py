"""Losses (faceres_tf.losses) against numpy references and closed forms."""

import dataclasses
import logging
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf

from faceres_tf import losses
from faceres_tf.config import LossConfig
from faceres_tf.weights import VGG19_NOTOP, MissingWeightsError

RTOL = 1e-5


def _feature_lists(seed=0, batch=3):
    """Three layers of different shapes, like a small VGG pyramid."""
    rng = np.random.default_rng(seed)
    shapes = [(batch, 8, 8, 4), (batch, 4, 6, 5), (batch, 2, 2, 7)]
    a = [rng.normal(size=s).astype(np.float32) for s in shapes]
    b = [rng.normal(size=s).astype(np.float32) for s in shapes]
    return a, b


def _np_gram(phi):
    b, h, w, c = phi.shape
    flat = phi.reshape(b, h * w, c).astype(np.float64)
    return np.einsum("bnc,bnd->bcd", flat, flat) / (c * h * w)


def _np_softplus(x):
    return np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0)


# ---------------------------------------------------------------- pixel ----
def test_l1_loss_per_example():
    rng = np.random.default_rng(1)
    p = rng.uniform(-1, 1, (4, 5, 6, 3)).astype(np.float32)
    t = rng.uniform(-1, 1, (4, 5, 6, 3)).astype(np.float32)
    got = losses.l1_loss(p, t).numpy()
    want = np.abs(p - t).reshape(4, -1).mean(1)
    assert got.shape == (4,)
    np.testing.assert_allclose(got, want, rtol=RTOL)
    np.testing.assert_array_equal(losses.l1_loss(p, p).numpy(), np.zeros(4))


# ----------------------------------------------------------- perceptual ----
def test_gram_matrix_matches_numpy_eq16():
    a, _ = _feature_lists()
    for phi in a:
        got = losses.gram_matrix(phi).numpy()
        b, _, _, c = phi.shape
        assert got.shape == (b, c, c)
        np.testing.assert_allclose(got, _np_gram(phi), rtol=RTOL, atol=1e-6)
        np.testing.assert_allclose(got, np.transpose(got, (0, 2, 1)), atol=1e-6)


def test_gram_matrix_explicit_loop_small():
    phi = np.arange(2 * 2 * 3, dtype=np.float32).reshape(1, 2, 2, 3)
    want = np.zeros((3, 3))
    for c in range(3):
        for d in range(3):
            want[c, d] = sum(phi[0, h, w, c] * phi[0, h, w, d] for h in range(2) for w in range(2))
    want /= 3 * 2 * 2
    np.testing.assert_allclose(losses.gram_matrix(phi).numpy()[0], want, rtol=RTOL)


def test_feature_loss_matches_numpy_eq14():
    a, b = _feature_lists()
    got = losses.feature_loss(a, b).numpy()
    want = sum(
        ((x.astype(np.float64) - y) ** 2).sum(axis=(1, 2, 3)) / np.prod(x.shape[1:])
        for x, y in zip(a, b)
    )
    assert got.shape == (3,)
    np.testing.assert_allclose(got, want, rtol=RTOL)
    np.testing.assert_allclose(losses.feature_loss(a, a).numpy(), 0.0, atol=0)


def test_style_loss_matches_numpy_eq15():
    a, b = _feature_lists(seed=3)
    got = losses.style_loss(a, b).numpy()
    want = sum(((_np_gram(x) - _np_gram(y)) ** 2).sum(axis=(1, 2)) for x, y in zip(a, b))
    assert got.shape == (3,)
    np.testing.assert_allclose(got, want, rtol=1e-4)
    np.testing.assert_allclose(losses.style_loss(a, a).numpy(), 0.0, atol=0)


def test_layer_weights_scale_each_layer_of_eq14_and_eq15():
    a, b = _feature_lists(seed=4)
    w = (0.5, 0.0, 2.0)
    want_f = sum(wi * losses.feature_loss([x], [y]).numpy() for wi, x, y in zip(w, a, b))
    want_s = sum(wi * losses.style_loss([x], [y]).numpy() for wi, x, y in zip(w, a, b))
    np.testing.assert_allclose(losses.feature_loss(a, b, w).numpy(), want_f, rtol=RTOL)
    np.testing.assert_allclose(losses.style_loss(a, b, w).numpy(), want_s, rtol=1e-4)
    with pytest.raises(ValueError, match="2 layer weights for 3"):
        losses.feature_loss(a, b, (1.0, 1.0))


def test_feature_lists_must_match():
    a, b = _feature_lists()
    with pytest.raises(ValueError, match="differ in length"):
        losses.feature_loss(a, b[:2])


def test_losses_are_per_example():
    """Example i's loss depends only on example i (what the trainer assumes)."""
    a, b = _feature_lists(batch=4)
    full = losses.style_loss(a, b).numpy()
    part = losses.style_loss([x[1:3] for x in a], [y[1:3] for y in b]).numpy()
    np.testing.assert_allclose(full[1:3], part, rtol=RTOL)


# ---------------------------------------------------------- adversarial ----
def test_gan_losses_match_numpy_softplus():
    rng = np.random.default_rng(2)
    real = (rng.normal(size=(6, 1)) * 5).astype(np.float32)
    fake = (rng.normal(size=(6,)) * 5).astype(np.float32)
    g = losses.generator_nonsaturating_loss(fake).numpy()
    d = losses.discriminator_logistic_loss(real, fake).numpy()
    assert g.shape == (6,) and d.shape == (6,)
    np.testing.assert_allclose(g, _np_softplus(-fake), rtol=RTOL)
    np.testing.assert_allclose(d, _np_softplus(fake) + _np_softplus(-real[:, 0]), rtol=RTOL)
    # Large logits stay finite.
    big = np.array([100.0, -100.0], np.float32)
    np.testing.assert_allclose(
        losses.generator_nonsaturating_loss(big).numpy(), [0.0, 100.0], atol=1e-5
    )


def test_r1_linear_discriminator_closed_form():
    """D(x) = sum(w * x) -> grad = w -> penalty = ||w||^2 for every example."""
    rng = np.random.default_rng(4)
    w = tf.constant(rng.normal(size=(1, 4, 4, 3)).astype(np.float32))
    x = rng.normal(size=(5, 4, 4, 3)).astype(np.float32)
    got = losses.r1_penalty(lambda v: tf.reduce_sum(w * v, axis=[1, 2, 3]), x).numpy()
    assert got.shape == (5,)
    np.testing.assert_allclose(got, np.full(5, np.sum(w.numpy() ** 2)), rtol=RTOL)


def test_r1_quadratic_discriminator():
    """D(x) = 0.5 * sum(x^2) -> grad = x -> penalty = ||x_i||^2."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(3, 4, 4, 3)).astype(np.float32)
    calls = []

    def disc(v, training=True):
        calls.append(training)
        return 0.5 * tf.reduce_sum(tf.square(v), axis=[1, 2, 3])[:, None]  # (B, 1)

    got = losses.r1_penalty(disc, x, training=False).numpy()
    np.testing.assert_allclose(got, (x.astype(np.float64) ** 2).sum(axis=(1, 2, 3)), rtol=RTOL)
    assert calls == [False]


def test_r1_keras_model_is_differentiable_wrt_weights():
    """The penalty can be trained on (double backprop) inside tf.function."""
    model = keras.Sequential(
        [keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, activation="softplus"),
         keras.layers.Flatten(), keras.layers.Dense(1)]
    )
    x = tf.random.stateless_normal((2, 8, 8, 3), seed=[0, 1])

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            pen = losses.r1_penalty(model, x)
            total = tf.reduce_sum(pen)
        return pen, tape.gradient(total, model.trainable_variables)

    pen, grads = step()
    assert pen.shape == (2,) and np.all(pen.numpy() > 0)
    # Every kernel gets a gradient (the last bias cannot: it does not change grad_x D).
    for v, g in zip(model.trainable_variables, grads):
        if "kernel" in v.path:
            assert g is not None and np.all(np.isfinite(g.numpy()))
            assert np.abs(g.numpy()).sum() > 0


def test_lazy_r1_weight():
    assert losses.lazy_r1_weight(10.0, 16) == 80.0
    assert losses.lazy_r1_weight(1.0, 1) == 0.5
    with pytest.raises(ValueError):
        losses.lazy_r1_weight(10.0, 0)


# -------------------------------------------------- reconstruction loss ----
def _tiny_extractor():
    inp = keras.Input((None, None, 3))
    f1 = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
    f2 = keras.layers.Conv2D(6, 3, strides=2, padding="same")(f1)
    return keras.Model(inp, [f1, f2])


def test_reconstruction_loss_combines_terms():
    extractor = _tiny_extractor()
    cfg = dataclasses.replace(LossConfig(), lambda_pix=2.0, lambda_feature=0.5, lambda_style=3.0,
                              vgg_layers=("a", "b"), perceptual_layer_weights=(1.0, 1.0))
    rng = np.random.default_rng(6)
    p = rng.uniform(-1, 1, (2, 16, 16, 3)).astype(np.float32)
    t = rng.uniform(-1, 1, (2, 16, 16, 3)).astype(np.float32)
    out = losses.reconstruction_loss(p, t, cfg, extractor=extractor)
    assert set(out) == {"pixel", "feature", "style", "total"}
    fp, ft = extractor(p), extractor(t)
    want_feat = losses.feature_loss(fp, ft).numpy()
    want_style = losses.style_loss(fp, ft).numpy()
    np.testing.assert_allclose(out["feature"].numpy(), want_feat, rtol=1e-4)
    np.testing.assert_allclose(out["style"].numpy(), want_style, rtol=1e-4)
    np.testing.assert_allclose(out["pixel"].numpy(), np.abs(p - t).reshape(2, -1).mean(1), rtol=RTOL)
    want_total = 2.0 * out["pixel"] + 0.5 * want_feat + 3.0 * want_style
    np.testing.assert_allclose(out["total"].numpy(), want_total, rtol=1e-4)
    assert all(v.shape == (2,) for v in out.values())


def test_reconstruction_loss_gradient_reaches_pred_only():
    extractor = _tiny_extractor()
    p = tf.Variable(tf.random.stateless_uniform((2, 16, 16, 3), [1, 2], -1, 1))
    t = tf.Variable(tf.random.stateless_uniform((2, 16, 16, 3), [3, 4], -1, 1))
    with tf.GradientTape(persistent=True) as tape:
        cfg = LossConfig(lambda_pix=0.0, vgg_layers=("a", "b"), perceptual_layer_weights=(1.0, 1.0))
        out = losses.reconstruction_loss(p, t, cfg, extractor)
        total = tf.reduce_sum(out["total"])
    gp = tape.gradient(total, p)
    assert np.abs(gp.numpy()).sum() > 0
    gt = tape.gradient(total, t)  # target features are constants (stop_gradient)
    assert gt is None or not np.any(gt.numpy())


def test_reconstruction_loss_perceptual_off_and_missing_extractor():
    p = np.zeros((2, 8, 8, 3), np.float32)
    t = np.ones((2, 8, 8, 3), np.float32)
    out = losses.reconstruction_loss(p, t, LossConfig(perceptual="off"))
    np.testing.assert_allclose(out["total"].numpy(), [1.0, 1.0])
    np.testing.assert_array_equal(out["style"].numpy(), [0.0, 0.0])
    with pytest.raises(ValueError, match="needs a feature extractor"):
        losses.reconstruction_loss(p, t, LossConfig(perceptual="vgg19"))


# ------------------------------------------------------------- VGG19 ------
def test_vgg19_random_weights_shapes_and_warning(caplog):
    with caplog.at_level(logging.WARNING):
        vgg = losses.build_vgg19_features(weights="random")
    assert "RANDOM" in caplog.text
    assert vgg.weights_source == "random"
    assert not vgg.trainable and not vgg.trainable_weights
    feats = vgg(np.zeros((2, 32, 32, 3), np.float32))
    shapes = [tuple(f.shape) for f in feats]
    assert shapes == [
        (2, 32, 32, 64), (2, 16, 16, 128), (2, 8, 8, 256), (2, 4, 4, 512), (2, 2, 2, 512)
    ]
    fl, sl = losses.perceptual_losses(vgg, np.zeros((2, 32, 32, 3), np.float32),
                                      np.ones((2, 32, 32, 3), np.float32))
    assert fl.shape == (2,) and np.all(fl.numpy() > 0) and np.all(np.isfinite(sl.numpy()))


def test_caffe_preprocess():
    x = np.array([[[[-1.0, 0.0, 1.0]]]], np.float32)  # R=-1, G=0, B=1
    got = losses.CaffePreprocess()(x).numpy()[0, 0, 0]
    # BGR order: B=255, G=127.5, R=0, minus the BGR ImageNet mean.
    np.testing.assert_allclose(got, [255 - 103.939, 127.5 - 116.779, 0 - 123.68], rtol=1e-5)


def test_vgg19_missing_weights_message(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(MissingWeightsError) as e:
        losses.build_vgg19_features()
    msg = str(e.value)
    assert VGG19_NOTOP.filename in msg
    assert VGG19_NOTOP.md5 in msg
    assert str(tmp_path / "models") in msg
    with pytest.raises(MissingWeightsError, match="does not exist"):
        losses.build_vgg19_features(weights_path=str(tmp_path / "nope.h5"))
    with pytest.raises(ValueError, match="imagenet"):
        losses.build_vgg19_features(weights="random-ish")


def test_vgg19_loads_explicit_h5(tmp_path):
    """A legacy .h5 file in the official notop layout is loaded, not ignored."""
    from keras.src.legacy.saving import legacy_h5_format

    src = keras.applications.VGG19(include_top=False, weights=None, input_shape=(None, None, 3))
    for v in src.weights:  # distinctive values
        v.assign(tf.fill(v.shape, 0.01))
    path = tmp_path / "vgg19_custom_notop.h5"
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, src)
    vgg = losses.build_vgg19_features(layers=("block1_conv1",), weights_path=str(path))
    assert vgg.weights_source == str(path)
    kernels = [w.numpy() for w in vgg.weights if "kernel" in w.path]
    assert kernels and all(np.allclose(k, 0.01) for k in kernels)
    with pytest.raises(ValueError, match="Unknown VGG19 layer"):
        losses.build_vgg19_features(layers=("conv9",), weights="random")
