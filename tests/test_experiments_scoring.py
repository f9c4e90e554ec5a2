"""The evaluation protocol of experiments/ (docs/method.md §7) without training:
identity metrics per degradation set (N vs N) against Algorithm 1's
reference, the bias of the old duplicated-set protocol, and the summary
statistics (± over noise draws, zero noise, training seeds)."""

from __future__ import annotations

import numpy as np
import pytest

from experiments.options import ExpOptions
from experiments.run_eval import RunEval, summarize
from experiments.scoring import Score, Scorer, identity_scores_from_features
from faceres_tf.metrics import identity_precision_recall
from faceres_tf.metrics.algorithm1 import algorithm1


class PixelEmbedder:
    """A deterministic stand-in for a face network: the first 12 pixel values."""

    name, dim = "pixels", 12

    def embed(self, images, progress=False):
        return np.stack([np.asarray(im, np.float64).reshape(-1)[:12] for im in images])


def _faces(rng, n=10, r=16):
    return rng.integers(0, 256, (n, r, r, 3), dtype=np.uint8)


def _noisy(rng, target, d, sigma):
    noise = rng.normal(0, sigma, (d,) + target.shape)
    return np.clip(target[None] + noise, 0, 255).astype(np.uint8)


def test_identity_scores_are_per_degradation_set_against_distinct_faces():
    rng = np.random.default_rng(0)
    target = _faces(rng)
    restored = _noisy(rng, target, 3, 120.0)  # (D=3, N=10, 16, 16, 3)
    opts = ExpOptions(workdir="unused", metrics=("psnr", "ssim", "ipr"), k=3)
    score = Scorer(opts, target, embedder=PixelEmbedder()).score(restored)
    emb = PixelEmbedder().embed
    real = emb(target)
    for key in ("iprecision", "irecall", "precision", "recall"):
        want = [algorithm1(real, emb(restored[d]), k=3)[key] for d in range(3)]
        assert score.per_d[key] == pytest.approx(want, abs=1e-12), key
        assert score.metrics[key] == pytest.approx(np.mean(want), abs=1e-12)
    assert score.features["real"].shape == (10, 12)
    assert score.features["restored"].shape == (3, 10, 12)
    assert 0 < score.metrics["iprecision"] < 1  # a case that discriminates
    assert score.std_d("iprecision") == pytest.approx(np.std(score.per_d["iprecision"], ddof=1))
    psnr_d = [np.mean([10 * np.log10(255 ** 2 / np.mean(
        (restored[d, i].astype(float) - target[i]) ** 2)) for i in range(10)]) for d in range(3)]
    assert score.per_d["psnr"] == pytest.approx(psnr_d)
    assert score.per_image["psnr"].shape == (3, 10)
    assert score.per_image["psnr"].mean(axis=1) == pytest.approx(psnr_d)


def test_missing_images_and_faces_are_left_out_of_their_set():
    rng = np.random.default_rng(1)
    real = rng.standard_normal((12, 8))
    restored = real[None] + 0.5 * rng.standard_normal((2, 12, 8))
    restored[1, 3] = np.nan  # no face found / no file
    got = identity_scores_from_features(real, restored, k=2)
    want1 = identity_precision_recall(real, np.delete(restored[1], 3, axis=0), k=2,
                                      real_ids=np.arange(12),
                                      restored_ids=np.delete(np.arange(12), 3))
    assert got["iprecision"][1] == pytest.approx(want1["iprecision"])
    assert got["iprecision"][0] == pytest.approx(algorithm1(real, restored[0], k=2)["iprecision"])


def test_duplicated_ground_truth_with_k_plus_d_minus_1_is_biased():
    """The old drivers' protocol: the ground truth repeated D times in one set and
    k + D - 1 neighbours. Its radius is the ceil(k/D)-th other face, not the k-th."""
    rng = np.random.default_rng(2)
    n, d_sets, k = 60, 3, 3
    real = rng.standard_normal((n, 16))
    restored = real[None] + 1.0 * rng.standard_normal((d_sets, n, 16))
    per_set = identity_scores_from_features(real, restored, k=k)["iprecision"].mean()
    ids = np.tile(np.arange(n), d_sets)
    old = identity_precision_recall(np.tile(real, (d_sets, 1)), restored.reshape(-1, 16),
                                    k=k + d_sets - 1, real_ids=ids, restored_ids=ids)
    k1 = identity_scores_from_features(real, restored, k=1)["iprecision"].mean()
    assert old["iprecision"] == pytest.approx(k1, abs=1e-9)  # the old protocol is k = 1
    assert per_set > old["iprecision"] + 0.1


def _ev(zero_psnr, draw_psnrs):
    def sc(v):  # two inputs whose PSNRs move in opposite directions with the noise
        return Score({"psnr": v}, {"psnr": [v]}, {}, per_image={"psnr": np.array([[v, 40 - v]])})

    return RunEval(sc(zero_psnr), [sc(v) for v in draw_psnrs], np.zeros((1, 1, 1, 1, 3)))


def test_summary_statistics_are_labelled_correctly():
    one = summarize([_ev(20.0, [18.0, 19.0, 20.0])], "psnr")
    assert one["mean"] == pytest.approx(19.0) and one["zero"] == 20.0
    assert one["std_noise"] == pytest.approx(1.0) and one["std_seeds"] is None
    assert one["std_noise_per_image"] == pytest.approx(1.0)  # each input: std of 18, 19, 20
    two = summarize([_ev(20.0, [18.0, 20.0]), _ev(22.0, [21.0, 23.0])], "psnr")
    assert two["mean"] == pytest.approx(20.5) and two["zero"] == pytest.approx(21.0)
    assert two["std_noise"] == pytest.approx(np.sqrt(2.0))  # mean over seeds of the per-seed std
    assert two["std_seeds"] == pytest.approx(np.std([19.0, 22.0], ddof=1))
    zero_only = summarize([_ev(20.0, [])], "psnr")
    assert zero_only["mean"] == 20.0 and zero_only["std_noise"] is None
    assert zero_only["std_noise_per_image"] is None


def test_only_an_unavailable_metric_becomes_a_footnote():
    """A missing weights file is an n/a footnote (Score.errors); any other
    exception in a metric is a bug and surfaces instead of becoming a table note."""
    rng = np.random.default_rng(3)
    target = _faces(rng, n=6)
    restored = _noisy(rng, target, 1, 30.0)
    opts = ExpOptions(workdir="unused", metrics=("psnr", "lpips", "ipr"), k=2, lpips_weights=None)
    score = Scorer(opts, target, embedder=PixelEmbedder()).score(restored)
    assert score.errors["lpips"].startswith("MissingWeightsError: ")  # documented: unavailable
    assert "psnr" in score.metrics and "iprecision" in score.metrics

    class BrokenEmbedder(PixelEmbedder):
        def embed(self, images, progress=False):
            raise RuntimeError("a bug in the identity network")

    with pytest.raises(RuntimeError, match="a bug in the identity network"):
        Scorer(opts, target, embedder=BrokenEmbedder()).score(restored)

    def broken_inception(images):
        raise ValueError("a bug in the FID features")

    fid_opts = ExpOptions(workdir="unused", metrics=("fid",), k=2)
    with pytest.raises(ValueError, match="a bug in the FID features"):
        Scorer(fid_opts, target, inception=broken_inception).score(restored)
