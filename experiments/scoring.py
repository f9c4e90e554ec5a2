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

A metric that cannot be computed (no weights, no identity network) is left
out with its reason in :attr:`Score.errors`; nothing is estimated.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from experiments.options import ExpOptions

PIXEL_METRICS = ("psnr", "ssim", "lpips")
IDENTITY_METRICS = ("iprecision", "irecall", "precision", "recall")


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


class _Unavailable(Exception):
    """A network is unavailable for the reason in the message (used verbatim)."""


def _lazy(fn):
    """Caches ``fn(self)``'s result or the reason it failed, as ``(value, reason)``."""
    attr = f"_{fn.__name__}_cache"

    def get(self):
        if not hasattr(self, attr):
            try:
                setattr(self, attr, (fn(self), None))
            except _Unavailable as e:
                setattr(self, attr, (None, str(e)))
            except Exception as e:  # noqa: BLE001 - a metric's failure is reported, not raised
                setattr(self, attr, (None, " ".join(f"{type(e).__name__}: {e}".split())))
        return getattr(self, attr)

    get.__name__, get.__doc__ = fn.__name__, fn.__doc__
    return get


class Scorer:
    """Scores restorations of one evaluation set; loads each network once.

    ``embedder`` (an :class:`~faceres_tf.metrics.identity.IdentityEmbedder`)
    replaces the one named by ``opts.id_net`` (tests).
    """

    def __init__(self, opts: ExpOptions, target_uint8: np.ndarray, embedder=None):
        self.opts = opts
        self._embedder = embedder
        self.k = int(opts.k)
        self.target = np.asarray(target_uint8)  # (N, R, R, 3) uint8, distinct faces
        self.metrics = [m for m in opts.metrics
                        if m != "ipr" or opts.id_net != "none" or embedder is not None]

    # -------------------------------------------------------------- networks
    @_lazy
    def identity_embedder(self):
        """The identity network, or the reason it is unavailable: ``(embedder, reason)``."""
        if self._embedder is not None:
            return self._embedder
        if self.opts.id_net == "none":
            raise _Unavailable("--id_net=none")
        from faceres_tf.metrics.identity import get_embedder

        return get_embedder(self.opts.id_net, weights=self.opts.id_weights)

    @_lazy
    def lpips_model(self):
        """``(LPIPS model, None)`` or ``(None, reason)``."""
        from faceres_tf.metrics.lpips import LPIPS

        return LPIPS(self.opts.lpips_weights)

    @_lazy
    def _inception(self):
        from faceres_tf.metrics.fid import InceptionFeatures

        return InceptionFeatures(self.opts.inception_weights)

    @_lazy
    def _gt_fid_stats(self):
        from faceres_tf.metrics.fid import feature_statistics

        net, reason = self._inception()
        if net is None:
            raise _Unavailable(reason)
        return feature_statistics(net(list(self.target)))

    @_lazy
    def real_features(self):
        """Identity features of the N ground-truth faces, ``(N, F)``."""
        emb, reason = self.identity_embedder()
        if emb is None:
            raise _Unavailable(reason)
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
        from faceres_tf.metrics import psnr_ssim

        pixel = {"psnr": psnr_ssim.psnr, "ssim": psnr_ssim.ssim}
        for name in ("psnr", "ssim"):
            if name in self.metrics:
                self._pixel(out, name, pixel[name], restored, valid)
        if "lpips" in self.metrics:
            model, reason = self.lpips_model()
            if model is None:
                out.errors["lpips"] = reason
            else:
                self._pixel(out, "lpips", lambda a, b: float(model.distance_uint8(a, b)[0]),
                            restored, valid)
        if "fid" in self.metrics:
            self._fid(out, restored, valid)
        if "ipr" in self.metrics:
            self._identity(out, restored, valid)
        return out

    def _pixel(self, out: Score, name, fn, restored, valid) -> None:
        values = np.full(valid.shape, np.nan)  # (D, N)
        for d, i in zip(*np.nonzero(valid)):
            values[d, i] = fn(restored[d, i], self.target[i])
        values[~np.isfinite(values)] = np.nan  # identical pairs (inf PSNR) left out
        out.per_image[name] = values
        per_d = [float(np.nanmean(v)) if np.isfinite(v).any() else float("nan") for v in values]
        out.per_d[name] = per_d
        finite = [v for v in per_d if math.isfinite(v)]
        out.metrics[name] = float(np.mean(finite)) if finite else float("nan")

    def _fid(self, out: Score, restored, valid) -> None:
        from faceres_tf.metrics.fid import feature_statistics, frechet_distance

        stats, reason = self._gt_fid_stats()
        if stats is None:
            out.errors["fid"] = reason
            return
        net, _ = self._inception()
        feats = net(list(restored[valid]))
        out.metrics["fid"] = frechet_distance(*feature_statistics(feats), *stats)

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
        except ValueError as e:  # e.g. fewer than k + 1 faces with a face found
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
    from faceres_tf.metrics import identity_precision_recall

    real, restored = np.asarray(real), np.asarray(restored)
    ids = np.arange(real.shape[0])
    real_ok = np.isfinite(real).all(axis=1)
    out = {m: [] for m in IDENTITY_METRICS}
    for feats in restored:
        ok = np.isfinite(feats).all(axis=1)
        res = identity_precision_recall(real[real_ok], feats[ok], k=k, real_ids=ids[real_ok],
                                        restored_ids=ids[ok])
        for m in IDENTITY_METRICS:
            out[m].append(res[m])
    return {m: np.asarray(v) for m, v in out.items()}
