"""LPIPS-VGG with random weights (shape, identity, symmetry) and the weight conversion."""

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from faceres_tf.metrics.convert_lpips_weights import TORCHVISION_VGG16_CONV_INDICES, convert_state_dicts
from faceres_tf.metrics.lpips import LPIPS, LPIPS_CHANNELS, VGG16_BLOCKS


@pytest.fixture(scope="module")
def random_lpips():
    return LPIPS(weights_path=False, seed=0)


def test_properties_with_random_weights(random_lpips):
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    y = rng.uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    d_xy = random_lpips(x, y)
    assert d_xy.shape == (2,)
    assert np.all(d_xy > 0)
    np.testing.assert_allclose(random_lpips(x, x), 0.0, atol=1e-7)
    np.testing.assert_allclose(random_lpips(y, x), d_xy, rtol=1e-5)
    near = np.clip(x + 0.02 * rng.standard_normal(x.shape), -1, 1).astype(np.float32)
    assert np.all(random_lpips(x, near) < d_xy)


def _synthetic_state_dicts(rng):
    vgg, cin = {}, 3
    convs = [c for _, n, c in VGG16_BLOCKS for _ in range(n)]
    for idx, cout in zip(TORCHVISION_VGG16_CONV_INDICES, convs):
        vgg[f"features.{idx}.weight"] = rng.standard_normal((cout, cin, 3, 3)).astype(np.float32) * 0.05
        vgg[f"features.{idx}.bias"] = rng.standard_normal(cout).astype(np.float32) * 0.01
        cin = cout
    vgg["classifier.0.weight"] = np.zeros((4, 4), np.float32)  # ignored
    lin = {f"lin{i}.model.1.weight": np.abs(rng.standard_normal((1, c, 1, 1))).astype(np.float32)
           for i, c in enumerate(LPIPS_CHANNELS)}
    return lin, vgg


def test_conversion_layout_and_loading(tmp_path):
    rng = np.random.default_rng(1)
    lin, vgg = _synthetic_state_dicts(rng)
    arrays = convert_state_dicts(lin, vgg)
    w = vgg["features.2.weight"]  # conv1_2, OIHW
    np.testing.assert_array_equal(arrays["conv1_2/kernel"][1, 2, 5, 7], w[7, 5, 1, 2])
    assert arrays["conv5_3/kernel"].shape == (3, 3, 512, 512)
    assert arrays["lin3"].shape == (512,)
    np.savez(tmp_path / "lpips_vgg.npz", **arrays)
    model = LPIPS(tmp_path / "lpips_vgg.npz")
    np.testing.assert_array_equal(model.backbone.get_layer("conv3_1").get_weights()[0],
                                  arrays["conv3_1/kernel"])
    a = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
    b = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
    assert model.distance_uint8(a, b)[0] > 0
    assert model.distance_uint8(a, a)[0] == pytest.approx(0.0, abs=1e-7)


def test_conversion_rejects_wrong_dicts():
    lin, vgg = _synthetic_state_dicts(np.random.default_rng(2))
    del vgg["features.28.bias"]
    with pytest.raises(KeyError, match="features.28"):
        convert_state_dicts(lin, vgg)


def test_missing_weights_message(tmp_path):
    from faceres_tf.weights import MissingWeightsError

    with pytest.raises(MissingWeightsError, match="convert_lpips_weights"):
        LPIPS(tmp_path / "nope.npz")
