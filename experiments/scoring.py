"""Scoring restored evaluation sets: the protocol of docs/method.md §7.

:class:`Scorer` takes the restorations of one evaluation, uint8
``(D, N, R, R, 3)`` (D degradations of N faces), and the N distinct ground
truths, and computes:

* PSNR / SSIM / LPIPS: per pair, averaged within each degradation set d,
  then over d.
* FID: all restored images against the N distinct ground truths.
* precision / recall / iPrecision / iRecall (Algorithm 1): **each of the D
  restored sets against the N distinct ground-truth faces separately** (N vs
  N, the paper's setting; no point is ever duplicated inside one set), then
  the mean over d and its std. Restored face i and ground truth i are the
  same person.

All values come from the package's one scorer
(:mod:`faceres_tf.metrics.scorer`, shared with training validation and
``faceres-evaluate``) with its rules (PSNR capped at 100 dB, NaN features
left out of their side). A metric that cannot be computed is left out with
its reason in :attr:`Score.errors` (an ``n/a`` footnote in the tables) only
when the scorer says it is unavailable
(:class:`~faceres_tf.metrics.scorer.MetricUnavailable`: missing weights or
package, too few faces); any other exception is a bug and surfaces. Nothing
is estimated.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from experiments.options import ExpOptions
from faceres_tf.metrics import scorer as sc
from faceres_tf.metrics.scorer import IDENTITY_KEYS as IDENTITY_METRICS
from faceres_tf.metrics.scorer import MetricUnavailable

PIXEL_METRICS = sc.PAIR_METRICS


@dataclasses.dataclass
class Score:
    """One scored evaluation.

    ``metrics``: name -> mean over the D sets; ``per_d``: name -> the D
    per-set values; ``errors``: metric -> why it is missing; ``features``:
    ``real`` (N, F) and ``restored`` (D, N, F) identity features (NaN where an
    image is missing), or None; ``per_image``: pixel metric -> (D, N) values
    (NaN where missing).
    """

    metrics: dict
    per_d: dict
    errors: dict
    features: dict | None = None
    per_image: dict = dataclasses.field(default_factory=dict)

    def value(self, key: str):
        v = self.metrics.get(key)
        return None if v is None or not math.isfinite(v) else float(v)

    def std_d(self, key: str):
        """Std over the D degradation sets (None for D = 1)."""
        vals = [v for v in self.per_d.get(key, []) if v is not None and math.isfinite(v)]
        return float(np.std(vals, ddof=1)) if len(vals) > 1 else None


def _lazy(fn):
    """Caches ``fn(self)``'s result, or the reason the metric is unavailable
    (:class:`MetricUnavailable` only), as ``(value, reason)``."""
    attr = f"_{fn.__name__}_cache"

    def get(self):
        if not hasattr(self, attr):
            try:
                setattr(self, attr, (fn(self), None))
            except MetricUnavailable as e:
                setattr(self, attr, (None, str(e)))
        return getattr(self, attr)

    get.__name__, get.__doc__ = fn.__name__, fn.__doc__
    return get


class Scorer:
    """Scores restorations of one evaluation set; loads each network once.

    ``embedder`` / ``inception`` / ``lpips`` replace the networks named by
    ``opts`` (tests, or a network shared between evaluations).
    """

    def __init__(self, opts: ExpOptions, target_uint8: np.ndarray, embedder=None,
                 inception=None, lpips=None):
        self.opts = opts
        self._given = sc.Networks(lpips=lpips, inception=inception, embedder=embedder)
        self.k = int(opts.k)
        self.target = np.asarray(target_uint8)  # (N, R, R, 3) uint8, distinct faces
        self.metrics = [m for m in opts.metrics
                        if m != "ipr" or opts.id_net != "none" or embedder is not None]

    def _network(self, name: str):
        given = getattr(self._given, sc.NETWORK_OF[name])
        if given is not None:
            return given
        o = self.opts
        return sc.load_network(name, o.lpips_weights, o.inception_weights, o.id_net, o.id_weights)

    # -------------------------------------------------------------- networks
    @_lazy
    def identity_embedder(self):
        """The identity network, or the reason it is unavailable: ``(embedder, reason)``."""
        if self._given.embedder is None and self.opts.id_net == "none":
            raise MetricUnavailable("--id_net=none")
        return self._network("ipr")

    @_lazy
    def lpips_model(self):
        """``(LPIPS model, None)`` or ``(None, reason)``."""
        return self._network("lpips")

    @_lazy
    def _inception(self):
        return self._network("fid")

    @_lazy
    def _gt_fid_stats(self):
        net, reason = self._inception()
        if net is None:
            raise MetricUnavailable(reason)
        return sc.truth_statistics(net(list(self.target)))

    @_lazy
    def real_features(self):
        """Identity features of the N ground-truth faces, ``(N, F)``."""
        emb, reason = self.identity_embedder()
        if emb is None:
            raise MetricUnavailable(reason)
        return emb.embed(list(self.target))

    def na_reasons(self) -> dict:
        """Metrics that are not computed at all, with the reason."""
        out = {}
        if "ipr" not in self.metrics:
            out["iprecision"] = ("--id_net=none" if self.opts.id_net == "none"
                                 else "not requested in --metrics")
        for m in ("psnr", "ssim", "lpips", "fid"):
            if m not in self.metrics:
                out[m] = "not requested in --metrics"
        return out

    # -------------------------------------------------------------- scoring
    def score(self, restored: np.ndarray, valid: np.ndarray | None = None) -> Score:
        """Scores uint8 ``restored`` (D, N, R, R, 3); ``valid`` (D, N) marks the
        images present (default: all)."""
        restored = np.asarray(restored)
        if restored.ndim != 5 or restored.shape[1:] != self.target.shape:
            raise ValueError(f"restored must be (D, {', '.join(map(str, self.target.shape))}), "
                             f"got {restored.shape}")
        valid = np.ones(restored.shape[:2], bool) if valid is None else np.asarray(valid, bool)
        out = Score({}, {}, {})
        for name in ("psnr", "ssim", "lpips"):
            if name in self.metrics:
                self._pixel(out, name, restored, valid)
        if "fid" in self.metrics:
            self._fid(out, restored, valid)
        if "ipr" in self.metrics:
            self._identity(out, restored, valid)
        return out

    def _pixel(self, out: Score, name, restored, valid) -> None:
        """Per pair, the mean within each degradation set d, then over d."""
        model = None
        if name == "lpips":
            model, reason = self.lpips_model()
            if model is None:
                out.errors["lpips"] = reason
                return
        values = np.full(valid.shape, np.nan)  # (D, N)
        for d in range(len(restored)):
            values[d, valid[d]] = sc.pair_values(name, restored[d][valid[d]],
                                                 self.target[valid[d]], model)[0]
        out.per_image[name] = values
        out.per_d[name] = [sc.set_mean(v) for v in values]
        finite = [v for v in out.per_d[name] if math.isfinite(v)]
        out.metrics[name] = float(np.mean(finite)) if finite else float("nan")

    def _fid(self, out: Score, restored, valid) -> None:
        stats, reason = self._gt_fid_stats()
        if stats is None:
            out.errors["fid"] = reason
            return
        net, _ = self._inception()
        try:
            out.metrics["fid"] = sc.fid_value(net(list(restored[valid])), stats)
        except MetricUnavailable as e:
            out.errors["fid"] = str(e)

    def _identity(self, out: Score, restored, valid) -> None:
        real, reason = self.real_features()
        if real is None:
            out.errors["ipr"] = reason
            return
        emb, _ = self.identity_embedder()
        feats = np.full(restored.shape[:2] + real.shape[1:], np.nan)  # (D, N, F)
        feats[valid] = emb.embed(list(restored[valid]))
        out.features = {"real": real, "restored": feats}
        try:
            per_d = identity_scores_from_features(real, feats, self.k)
        except MetricUnavailable as e:  # fewer than k + 1 faces with a face found
            out.errors["ipr"] = str(e)
            return
        out.per_d.update({m: [float(v) for v in vals] for m, vals in per_d.items()})
        out.metrics.update({m: float(np.mean(vals)) for m, vals in per_d.items()})


def identity_scores_from_features(real, restored, k: int) -> dict:
    """Identity scores of each degradation set: ``real`` (N, F) and
    ``restored`` (D, N, F) features (NaN rows: no image or no face, left out)
    -> {name: (D,) array}. Restored i and real i are the same person. This is
    the protocol :meth:`Scorer.score` uses; it also recomputes the numbers
    from a published ``eval_features.npz``."""
    per_set = [sc.identity_values(real, feats, k) for feats in np.asarray(restored)]
    return {m: np.asarray([r[m] for r in per_set]) for m in IDENTITY_METRICS}
