"""faceres_tf.metrics.scorer: the one scorer of restored faces.

Its numbers equal the pre-scorer implementations and independent numpy /
scipy / Algorithm 1 references on a small fixture; its rule for degenerate
cases (PSNR capped at 100 dB, pairs or faces a metric cannot use left out,
too-small sets unavailable) holds; and its three callers (training
validation, ``faceres-evaluate``, the experiments' tables) give the same
numbers on the same pairs.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image
from scipy import linalg

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from faceres_tf.metrics import scorer as sc
from faceres_tf.metrics.algorithm1 import algorithm1
from faceres_tf.metrics.psnr_ssim import PSNR_MAX_DB

ALL = ("psnr", "ssim", "lpips", "fid", "ipr")
# Printed by the three scorers this module replaced (training/evaluation.py,
# evaluate_metrics.py, experiments/scoring.py at commit 6b67ed9), which agreed
# on this fixture, with the fake networks below.
OLD_NUMBERS = {"psnr": 10.482032940269468, "ssim": 0.579501646024123,
               "lpips": 0.23591616739288307, "fid": 7127.702395854707,
               "iprecision": 0.7, "irecall": 0.8, "precision": 0.9, "recall": 1.0}


class PixelEmbedder:
    """Identity stand-in: the first 12 pixel values."""

    name, dim = "pixels", 12

    def embed(self, images, progress=False):
        return np.stack([np.asarray(im, np.float64).reshape(-1)[:12] for im in images])


class FakeInception:
    """FID stand-in: 5 pixel values spread over the image."""

    def __call__(self, images):
        return np.stack([np.asarray(im, np.float64).reshape(-1)[::97][:5] for im in images])


class FakeLPIPS:
    """LPIPS stand-in: mean absolute difference / 255."""

    def distance_uint8(self, a, b):
        return np.array([np.mean(np.abs(np.asarray(a, float) - np.asarray(b, float))) / 255.0])


def fakes() -> sc.Networks:
    return sc.Networks(lpips=FakeLPIPS(), inception=FakeInception(), embedder=PixelEmbedder())


def pair_set(n=10, r=24, seed=0):
    """(restored, truth) uint8 (n, r, r, 3): random faces and a heavy noise."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 256, (n, r, r, 3), dtype=np.uint8)
    restored = np.clip(truth + rng.normal(0, 100, truth.shape), 0, 255).astype(np.uint8)
    return restored, truth


def _frechet(a, b):
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * linalg.sqrtm(s1 @ s2).real))


def test_numbers_equal_the_old_scorers_and_the_references():
    restored, truth = pair_set()
    got = sc.score_set(restored, truth, ALL, fakes(), k=2)
    assert got.errors == {} and got.left_out == []
    for key, old in OLD_NUMBERS.items():
        assert got.metrics[key] == pytest.approx(old, rel=1e-6, abs=1e-12), key
    mse = ((restored.astype(np.float64) - truth) ** 2).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(got.per_image["psnr"], 10 * np.log10(255.0 ** 2 / mse), rtol=1e-12)
    from skimage.metrics import structural_similarity

    want_ssim = [structural_similarity(r, t, channel_axis=-1, data_range=255, gaussian_weights=True,
                                       sigma=1.5, use_sample_covariance=False)
                 for r, t in zip(restored, truth)]
    np.testing.assert_allclose(got.per_image["ssim"], want_ssim, atol=1e-6)
    net = FakeInception()
    assert got.metrics["fid"] == pytest.approx(_frechet(net(restored), net(truth)), rel=1e-6)
    emb = PixelEmbedder().embed
    want = algorithm1(emb(truth), emb(restored), k=2)
    for key in sc.IDENTITY_KEYS:
        assert got.metrics[key] == pytest.approx(want[key], abs=1e-12), key
    assert 0 < got.metrics["iprecision"] < 1  # a fixture that discriminates


def test_batches_give_the_same_numbers_as_one_set():
    restored, truth = pair_set()
    whole = sc.score_set(restored, truth, ALL, fakes(), k=2)
    streamed = sc.SetScorer(ALL, fakes(), k=2)
    for s in range(0, 10, 3):
        streamed.add(restored[s:s + 3], truth[s:s + 3])
    got = streamed.result()
    for key, value in whole.metrics.items():
        assert got.metrics[key] == pytest.approx(value, rel=1e-12), key


def test_identical_pair_scores_the_cap_and_counts_in_the_mean():
    restored, truth = pair_set(n=4)
    restored[1] = truth[1]
    got = sc.score_set(restored, truth, ("psnr", "ssim"))
    assert PSNR_MAX_DB == 100.0 and got.per_image["psnr"][1] == 100.0
    assert got.per_image["ssim"][1] == pytest.approx(1.0)
    mse = ((restored.astype(np.float64) - truth) ** 2).mean(axis=(1, 2, 3))
    ref = np.where(mse == 0, 100.0, 10 * np.log10(255.0 ** 2 / np.maximum(mse, 1e-300)))
    assert got.metrics["psnr"] == pytest.approx(np.mean(np.minimum(ref, 100.0)))
    assert np.isfinite(sc.score_set(truth, truth, ("psnr",)).metrics["psnr"])


def test_pairs_a_metric_cannot_score_are_left_out_of_that_metric_only():
    rng = np.random.default_rng(1)
    big = [rng.integers(0, 256, (16, 16, 3), dtype=np.uint8) for _ in range(3)]
    small = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)  # SSIM needs 11 px
    restored = big + [np.clip(small.astype(int) + 3, 0, 255).astype(np.uint8)]
    truth = big[::-1] + [small]
    got = sc.score_set(restored, truth, ("psnr", "ssim"))
    assert [(m, i) for m, i, _ in got.left_out] == [("ssim", 3)]
    assert "11x11" in got.left_out[0][2]
    assert np.isnan(got.per_image["ssim"][3]) and np.isfinite(got.per_image["psnr"]).all()
    assert got.metrics["ssim"] == pytest.approx(np.mean(got.per_image["ssim"][:3]))
    assert got.metrics["psnr"] == pytest.approx(np.mean(got.per_image["psnr"]))


def test_faces_without_features_are_left_out_of_their_side():
    rng = np.random.default_rng(2)
    real = rng.standard_normal((12, 8))
    restored = real + 0.8 * rng.standard_normal((12, 8))
    restored[3] = np.nan  # no face found in restoration 3
    real[5] = np.nan  # nor in ground truth 5
    got = sc.identity_values(real, restored, k=2)
    keep_r, keep_g = np.delete(np.arange(12), 5), np.delete(np.arange(12), 3)
    want = algorithm1(real[keep_r], restored[keep_g], k=2, real_ids=keep_r, restored_ids=keep_g)
    for key in sc.IDENTITY_KEYS:
        assert got[key] == pytest.approx(want[key], abs=1e-12), key
    assert got["irecall"] < 1  # ground truth 3 lost its restoration: it cannot be covered
    with pytest.raises(sc.MetricUnavailable, match="k=2 needs more than k faces"):
        sc.identity_values(real[:2], restored[:2], k=2)


def test_unavailable_metrics_are_reported_and_other_errors_surface():
    restored, truth = pair_set(n=4)
    got = sc.score_set(restored[:1], truth[:1], ("psnr", "fid", "lpips"), fakes())
    assert "at least 2" in got.errors["fid"] and "fid" not in got.metrics
    no_nets = sc.score_set(restored, truth, ("lpips", "ipr"))
    assert set(no_nets.errors) == {"lpips", "ipr"} and no_nets.metrics == {}

    class Broken:
        def embed(self, images, progress=False):
            raise RuntimeError("a bug in the embedder")

    with pytest.raises(RuntimeError, match="a bug in the embedder"):
        sc.score_set(restored, truth, ("ipr",), sc.Networks(embedder=Broken()))
    with pytest.raises(sc.MetricUnavailable, match="MissingWeightsError"):
        sc.load_network("lpips", lpips_weights=None)


def test_degraded_inputs_are_scored_alongside():
    restored, truth = pair_set(n=4)
    degraded = np.clip(truth.astype(int) + 40, 0, 255).astype(np.uint8)
    got = sc.score_set(restored, truth, ("psnr",), degraded=degraded)
    assert got.inputs.metrics["psnr"] == pytest.approx(
        sc.score_set(degraded, truth, ("psnr",)).metrics["psnr"])


def test_three_callers_give_the_same_numbers(tmp_path, monkeypatch):
    """Training validation, faceres-evaluate and the experiments' Scorer on the
    same pairs (one of them identical, to hold the degenerate rule too)."""
    from experiments.options import ExpOptions
    from experiments.scoring import Scorer
    from faceres_tf import evaluate, evaluate_metrics
    from faceres_tf.image_io import uint8_to_float
    from faceres_tf.training.evaluation import evaluate_restoration

    restored, truth = pair_set()
    restored[4] = truth[4]
    want = sc.score_set(restored, truth, ALL, fakes(), k=2).metrics
    assert want["psnr"] == pytest.approx(np.mean(
        [100.0 if i == 4 else sc.psnr_ssim.psnr(r, t) for i, (r, t) in enumerate(zip(restored, truth))]))

    def generator(inputs, training):
        return uint8_to_float(restored)

    train = evaluate_restoration(generator, uint8_to_float(restored), uint8_to_float(truth))
    assert train["psnr_restored"] == pytest.approx(want["psnr"], rel=1e-12)
    assert train["ssim_restored"] == pytest.approx(want["ssim"], rel=1e-12)

    opts = ExpOptions(workdir=str(tmp_path), metrics=ALL, k=2)
    exp = Scorer(opts, truth, embedder=PixelEmbedder(), inception=FakeInception(),
                 lpips=FakeLPIPS()).score(restored[None])
    assert exp.errors == {}

    for side, arr in (("gt", truth), ("restored", restored)):
        (tmp_path / side).mkdir()
        for i, im in enumerate(arr):
            Image.fromarray(im).save(tmp_path / side / f"{i:03d}.png")
    nets = fakes()
    monkeypatch.setattr(evaluate_metrics, "_build",
                        lambda name, s: getattr(nets, sc.NETWORK_OF[name]) if name in sc.NETWORK_OF else None)
    cli = evaluate.evaluate_folders(tmp_path / "restored", tmp_path / "gt", metrics=list(ALL), k=2,
                                    progress=False)
    assert cli["errors"] == {}
    assert cli["per_image"][4]["psnr"] == 100.0
    for key, value in want.items():
        assert exp.metrics[key] == pytest.approx(value, rel=1e-12), key
        assert cli["metrics"][key] == pytest.approx(value, rel=1e-12), key
