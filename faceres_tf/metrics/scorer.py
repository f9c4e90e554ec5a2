"""The one scorer of restored faces: arrays in, per-image values and means out.

Training validation (:mod:`faceres_tf.training.evaluation`), the folder
command ``faceres-evaluate`` (:mod:`faceres_tf.evaluate_metrics`) and the
paper's tables (``experiments/scoring.py``) all score through this module, so
one set of pairs gives the same numbers everywhere. Images are uint8 RGB
``(N, H, W, 3)`` (restored i pairs with ground truth i); networks (LPIPS,
Inception features, identity embedder) are passed in (:class:`Networks`,
:func:`load_network`).

Rules, the same for every caller:

* **PSNR of an identical pair** (MSE 0) is ``PSNR_MAX_DB`` = 100 dB, not
  infinity (:func:`faceres_tf.metrics.psnr_ssim.psnr` caps every value there).
  [ours] An infinite value would make the set's mean infinite, and leaving the
  pair out would score a method lower for reproducing a face exactly; a cap
  keeps the mean finite and the perfect pair the best score. 100 dB is the
  cap of x264's PSNR and lies far above anything a restoration reaches
  (20-40 dB); it only binds when the MSE is below 6.5e-6 grey levels², i.e.
  a handful of one-level differences in a 512 px image.
* **Pair metrics** (PSNR, SSIM, LPIPS): one value per pair, the set's value
  is their mean. A pair a metric cannot score (SSIM needs 11x11 px: the
  metric raises ``ValueError``) gets NaN, is left out of that metric's mean
  only and is listed in :attr:`SetScore.left_out`.
* **FID**: between the restored set and the ground-truth set (or its
  cached statistics), both of at least 2 images.
* **(i)Precision / (i)Recall**: identity features with a NaN row (no image, no
  face found) are left out of their own side only (a restoration without a
  face then cannot cover its ground truth, which lowers iRecall).
  Identities: by index, or ``ids`` (equal ids = same person).
* **Unavailable metrics**: only :class:`MetricUnavailable` (missing optional
  weights or package, a set too small for the metric) turns a metric into a
  reported reason (:attr:`SetScore.errors`); every other exception is a bug
  and propagates.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from faceres_tf.errors import UserError
from faceres_tf.metrics import fid as fidm
from faceres_tf.metrics import psnr_ssim
from faceres_tf.metrics.identity import get_embedder
from faceres_tf.metrics.lpips import LPIPS
from faceres_tf.metrics.precision_recall import identity_precision_recall
from faceres_tf.metrics.psnr_ssim import PSNR_MAX_DB  # noqa: F401 - documented here
from faceres_tf.weights import INCEPTION_V3_NOTOP, MissingWeightsError, find_weights

ALL_METRICS = ("psnr", "ssim", "lpips", "fid", "ipr")
PAIR_METRICS = ("psnr", "ssim", "lpips")
IDENTITY_KEYS = ("iprecision", "irecall", "precision", "recall")


class MetricUnavailable(UserError, RuntimeError):
    """A metric cannot be computed here, for the reason in the message: its
    optional weights or package are missing, or the set is too small for it."""


@dataclasses.dataclass
class Networks:
    """The feature networks of the metrics that need one (None: not loaded).

    ``lpips``: has ``distance_uint8(a, b) -> (N,)``; ``inception``: list of
    uint8 images -> ``(N, d)`` features; ``embedder``: has ``embed(images)``
    -> ``(N, d)`` identity features (NaN row: no face).
    """

    lpips: object = None
    inception: object = None
    embedder: object = None


NETWORK_OF = {"lpips": "lpips", "fid": "inception", "ipr": "embedder"}


def load_network(name: str, lpips_weights=None, inception_weights=None, id_net: str = "dlib",
                 id_weights=None):
    """The network metric ``name`` needs (None for PSNR / SSIM). Missing
    weights or packages raise :class:`MetricUnavailable` whose message is
    ``"<exception type>: <message>"`` of the cause (also ``.__cause__``)."""
    try:
        if name == "lpips":
            return LPIPS(lpips_weights)  # checks the file before TensorFlow loads
        if name == "fid":
            return fidm.InceptionFeatures(find_weights(INCEPTION_V3_NOTOP, inception_weights))
        if name == "ipr":
            return get_embedder(id_net, weights=id_weights)
    except (MissingWeightsError, FileNotFoundError, ImportError) as e:
        raise MetricUnavailable(" ".join(f"{type(e).__name__}: {e}".split())) from e
    return None


# ----------------------------------------------------------------------------- pure pieces
def pair_values(name: str, restored, truth, lpips=None) -> tuple[np.ndarray, list]:
    """``(values (N,), left_out)``: ``name`` (psnr, ssim, lpips) of each pair;
    a pair the metric cannot score is NaN and listed as ``(index, reason)``."""
    if len(restored) != len(truth):
        raise ValueError(f"{len(restored)} restored images for {len(truth)} ground truths.")
    if name == "lpips":
        if lpips is None:
            raise MetricUnavailable("lpips: no LPIPS network given")
        fn = lambda a, b: float(lpips.distance_uint8(a, b)[0])  # noqa: E731
    else:
        fn = {"psnr": psnr_ssim.psnr, "ssim": psnr_ssim.ssim}[name]
    values, left_out = np.full(len(truth), np.nan), []
    for i, (r, g) in enumerate(zip(restored, truth)):
        try:
            values[i] = fn(r, g)
        except ValueError as e:  # e.g. SSIM of an image under 11 px
            left_out.append((i, str(e)))
    return values, left_out


def set_mean(values) -> float:
    """Mean of the scored (non-NaN) values; NaN when none was scored."""
    v = np.asarray(values, np.float64)
    v = v[~np.isnan(v)]
    return float(np.mean(v)) if v.size else float("nan")


def fid_value(restored_features, truth_stats) -> float:
    """FID of ``(N, d)`` restored features against ``(mu, sigma)`` of the ground truth."""
    if len(restored_features) < 2:
        raise MetricUnavailable(f"fid: needs at least 2 restored images, got {len(restored_features)}")
    return fidm.frechet_distance(*fidm.feature_statistics(restored_features), *truth_stats)


def truth_statistics(truth_features) -> tuple[np.ndarray, np.ndarray]:
    """``(mu, sigma)`` of the ground truth's ``(N, d)`` FID features (N >= 2)."""
    if len(truth_features) < 2:
        raise MetricUnavailable(f"fid: needs at least 2 ground-truth images, got {len(truth_features)}")
    return fidm.feature_statistics(truth_features)


def identity_values(real, restored, k: int, real_ids=None, restored_ids=None) -> dict:
    """(i)Precision / (i)Recall of ``restored`` (N, d) against ``real`` (M, d)
    features; NaN rows are left out of their own side. Ids default to the
    index (restored i and real i are the same person)."""
    real, restored = np.asarray(real, np.float64), np.asarray(restored, np.float64)
    real_ids = np.arange(len(real)) if real_ids is None else np.asarray(real_ids)
    restored_ids = np.arange(len(restored)) if restored_ids is None else np.asarray(restored_ids)
    real_ok = np.isfinite(real).all(axis=1)
    rest_ok = np.isfinite(restored).all(axis=1)
    n = min(int(real_ok.sum()), int(rest_ok.sum()))
    if n <= k:
        raise MetricUnavailable(f"ipr: k={k} needs more than k faces with features on each side; "
                                f"there are {int(real_ok.sum())} real and {int(rest_ok.sum())} restored")
    return identity_precision_recall(real[real_ok], restored[rest_ok], k=k,
                                     real_ids=real_ids[real_ok], restored_ids=restored_ids[rest_ok])


# ----------------------------------------------------------------------------- one set
@dataclasses.dataclass
class SetScore:
    """The scores of one set of pairs.

    ``metrics``: name -> value (psnr, ssim, lpips, fid, iprecision, irecall,
    precision, recall); ``per_image``: pair metric -> ``(N,)`` values (NaN: left
    out); ``left_out``: ``[(metric, index, reason)]``; ``errors``: metric -> why
    it is unavailable; ``features``: ``{"real", "restored"}`` identity features;
    ``truth_stats``: the ground truth's FID ``(mu, sigma)``; ``inputs``: the
    :class:`SetScore` of the degraded inputs, when given.
    """

    metrics: dict = dataclasses.field(default_factory=dict)
    per_image: dict = dataclasses.field(default_factory=dict)
    left_out: list = dataclasses.field(default_factory=list)
    errors: dict = dataclasses.field(default_factory=dict)
    features: dict | None = None
    truth_stats: tuple | None = None
    inputs: SetScore | None = None


class SetScorer:
    """Scores one set of pairs given batch by batch (:meth:`add`, then
    :meth:`result`); memory holds per-pair values and features, not images.

    ``metrics``: names from :data:`ALL_METRICS`; ``networks``: what lpips /
    fid / ipr need (a missing one makes that metric unavailable);
    ``truth_stats``: cached FID statistics of the ground truth (then its
    images are not run through Inception).
    """

    def __init__(self, metrics=("psnr", "ssim"), networks: Networks | None = None, k: int = 3,
                 truth_stats=None):
        unknown = sorted(set(metrics) - set(ALL_METRICS))
        if unknown:
            raise ValueError(f"unknown metric(s) {unknown}; choose from {list(ALL_METRICS)}.")
        self.metrics, self.k, self.truth_stats = list(metrics), int(k), truth_stats
        self.net = networks or Networks()
        self.values = {m: [] for m in self.metrics if m in PAIR_METRICS}
        self.left_out: list = []
        self.feats = {"fid_restored": [], "fid_truth": [], "id_restored": [], "id_truth": []}
        self.errors = {m: f"{m}: no {NETWORK_OF[m]} network given" for m in self.metrics
                       if m in NETWORK_OF and getattr(self.net, NETWORK_OF[m]) is None}
        self.count = 0

    def _active(self, name: str) -> bool:
        return name in self.metrics and name not in self.errors

    def add(self, restored, truth) -> None:
        """Scores a batch of uint8 pairs (sequences of ``(H, W, 3)``, sizes may differ)."""
        restored, truth = list(restored), list(truth)
        for name in self.values:
            if self._active(name):
                values, left = pair_values(name, restored, truth, self.net.lpips)
                self.values[name].append(values)
                self.left_out += [(name, self.count + i, why) for i, why in left]
        if self._active("fid"):
            self.feats["fid_restored"].append(self.net.inception(restored))
            if self.truth_stats is None:
                self.feats["fid_truth"].append(self.net.inception(truth))
        if self._active("ipr"):
            self.feats["id_restored"].append(self.net.embedder.embed(restored))
            self.feats["id_truth"].append(self.net.embedder.embed(truth))
        self.count += len(truth)

    def _stack(self, key: str) -> np.ndarray:
        return np.concatenate(self.feats[key]) if self.feats[key] else np.zeros((0, 0))

    def result(self, ids=None) -> SetScore:
        """The set's :class:`SetScore`; ``ids`` (N,) names the person of pair i."""
        out = SetScore(left_out=list(self.left_out), errors=dict(self.errors))
        for name, parts in self.values.items():
            if self._active(name):
                out.per_image[name] = np.concatenate(parts) if parts else np.zeros(0)
                out.metrics[name] = set_mean(out.per_image[name])
        for name, step in (("fid", self._fid), ("ipr", self._ipr)):
            if self._active(name):
                try:
                    step(out, ids)
                except MetricUnavailable as e:
                    out.errors[name] = str(e)
        return out

    def _fid(self, out: SetScore, ids) -> None:
        out.truth_stats = self.truth_stats or truth_statistics(self._stack("fid_truth"))
        out.metrics["fid"] = fid_value(self._stack("fid_restored"), out.truth_stats)

    def _ipr(self, out: SetScore, ids) -> None:
        real, rest = self._stack("id_truth"), self._stack("id_restored")
        out.features = {"real": real, "restored": rest}
        out.metrics.update(identity_values(real, rest, self.k, ids, ids))


def score_set(restored, truth, metrics=("psnr", "ssim"), networks: Networks | None = None,
              k: int = 3, ids=None, degraded=None) -> SetScore:
    """Scores uint8 ``restored`` against ``truth`` (both ``(N, H, W, 3)``) at
    once; with ``degraded``, the inputs are scored too (``.inputs``)."""
    scorer = SetScorer(metrics, networks, k)
    scorer.add(restored, truth)
    out = scorer.result(ids)
    if degraded is not None:
        out.inputs = score_set(degraded, truth, metrics, networks, k, ids)
    return out
