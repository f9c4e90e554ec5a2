"""The metrics of :mod:`faceres_tf.evaluate`, computed while pairs stream by.

:func:`prepare_metrics` builds every network a metric needs *before* any
pair is read, so missing weights are known at once: with the default
``--metrics=auto`` such a metric is skipped with one line; a metric named
explicitly raises :class:`~faceres_tf.weights.MissingWeightsError` (a usage
error). :class:`StreamingScorer` then takes the pairs batch by batch: PSNR,
SSIM and LPIPS per pair, FID and identity features per image (a few KB per
pair), so memory does not grow with the images. A pair a metric cannot score
(e.g. SSIM of an image under 11 px) is left out of that metric's mean and
named in the report (``pairs_left_out``); the other metrics keep it.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from pathlib import Path

import numpy as np

logger = logging.getLogger("faceres_tf.evaluate")

# name -> metrics that run offline with what the package installs
OFFLINE_METRICS = ("psnr", "ssim", "ipr")
ALL_METRICS = ("psnr", "ssim", "lpips", "fid", "ipr")
PER_PAIR = ("psnr", "ssim", "lpips")
# iPrecision / iRecall saturate when a neighbourhood of k holds a large share
# of the set: below this many pairs per unit of k, a warning says so.
IPR_PAIRS_PER_K = 20


@dataclasses.dataclass
class MetricSettings:
    """What the metrics need besides the images (the arguments of ``evaluate_folders``)."""

    id_net: str = "dlib"
    k: int = 3
    ids_csv: object = None
    lpips_weights: object = None
    inception_weights: object = None
    id_weights: object = None
    embedder: object = None
    gt_fid_stats: object = None
    progress: bool = True


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _build(name: str, s: MetricSettings):
    """The network ``name`` needs (None for PSNR / SSIM); raises when its weights are missing."""
    from faceres_tf.weights import INCEPTION_V3_NOTOP, MissingWeightsError, find_weights

    if name == "lpips":
        if not (s.lpips_weights and Path(s.lpips_weights).is_file()):
            raise MissingWeightsError("no LPIPS weights")  # before TensorFlow is imported
        from faceres_tf.metrics.lpips import LPIPS

        return LPIPS(s.lpips_weights)
    if name == "fid":
        path = find_weights(INCEPTION_V3_NOTOP, s.inception_weights)
        from faceres_tf.metrics.fid import InceptionFeatures

        return InceptionFeatures(path)
    if name == "ipr":
        if s.embedder is not None:
            return s.embedder
        from faceres_tf.metrics.identity import get_embedder

        return get_embedder(s.id_net, weights=s.id_weights)
    return None


def skip_reason(name: str, exc: BaseException, s: MetricSettings) -> str:
    """One line: why ``name`` cannot run and what would make it run."""
    if name == "lpips" and not (s.lpips_weights and Path(s.lpips_weights).is_file()):
        given = f"{s.lpips_weights} does not exist; " if s.lpips_weights else ""
        return (f"no LPIPS weights ({given}pass --lpips_weights FILE.npz, made once with "
                "python -m faceres_tf.metrics.convert_lpips_weights)")
    if name == "fid" and "pretrained weights not found" in str(exc):
        from faceres_tf.weights import INCEPTION_V3_NOTOP, keras_cache_dir

        return (f"no Inception V3 weights ({INCEPTION_V3_NOTOP.filename} in {keras_cache_dir()}, "
                "or --inception_weights FILE)")
    return first_line(exc)


def prepare_metrics(metrics, settings: MetricSettings, explicit: bool, report: dict) -> dict:
    """``{metric: network or None}`` for the metrics that can run. A metric
    whose weights (or package) are missing is skipped with one line (recorded
    under ``skipped_metrics``) when not ``explicit``, else the error is raised."""
    from faceres_tf.weights import MissingWeightsError

    ready = {}
    for name in metrics:
        try:
            ready[name] = _build(name, settings)
        except (MissingWeightsError, FileNotFoundError, ImportError) as e:
            reason = skip_reason(name, e, settings)
            if explicit:
                raise MissingWeightsError(f"--metrics {name}: {reason}; leave it out of --metrics "
                                          "to score the others") from None
            report["skipped_metrics"][name] = reason
            logger.warning("%s skipped: %s", name, reason)
    return ready


def tensorflow_needed(metrics, s: MetricSettings) -> bool:
    """True when a metric that will run uses TensorFlow (load it quietly first)."""
    from faceres_tf.weights import INCEPTION_V3_NOTOP, MissingWeightsError, find_weights

    if "ipr" in metrics and s.embedder is None and s.id_net != "dlib":
        return True
    if "lpips" in metrics and s.lpips_weights and Path(s.lpips_weights).is_file():
        return True
    if "fid" in metrics:
        try:
            find_weights(INCEPTION_V3_NOTOP, s.inception_weights, check_md5=False)
            return True
        except MissingWeightsError:
            return False
    return False


def ipr_size_problem(n_pairs: int, k: int) -> str:
    """Why iPR cannot run on ``n_pairs`` pairs with this ``k`` ("" when it can)."""
    if n_pairs <= k:
        return f"k={k} needs more than k pairs; there are {n_pairs} (use a smaller --k)"
    return ""


def warn_if_ipr_saturates(n_pairs: int, k: int, report: dict) -> None:
    """A note (and a warning line) when a neighbourhood of k is a large share of the set."""
    if n_pairs < IPR_PAIRS_PER_K * k:
        text = (f"ipr: each neighbourhood holds k={k} of the other {n_pairs - 1} faces "
                f"({100 * k / (n_pairs - 1):.0f}%), so (i)Precision / (i)Recall saturate near 1; "
                f"use at least {IPR_PAIRS_PER_K * k} pairs or a smaller --k")
        report.setdefault("notes", []).append(text)
        logger.warning("%s", text)


class StreamingScorer:
    """Takes pairs batch by batch; :meth:`finish` fills ``report["metrics"]``."""

    def __init__(self, ready: dict, settings: MetricSettings, report: dict):
        self.ready, self.s, self.report = dict(ready), settings, report
        self.values = {m: [] for m in PER_PAIR if m in ready}
        self.names: list = []
        self.fid_rest, self.fid_gt, self.id_rest, self.id_gt = [], [], [], []
        self.gt_stats = None
        if "fid" in ready and settings.gt_fid_stats and Path(settings.gt_fid_stats).is_file():
            from faceres_tf.metrics import fid as fidm

            self.gt_stats = fidm.load_statistics(settings.gt_fid_stats)

    def _fail(self, name: str, exc: Exception) -> None:
        self.report["errors"][name] = f"{type(exc).__name__}: {exc}"
        logger.warning("%s failed: %s", name, first_line(exc))
        self.ready.pop(name, None)
        self.values.pop(name, None)

    def _pair_value(self, name: str, stem: str, r, g) -> float:
        from faceres_tf.metrics import psnr_ssim

        try:
            if name == "lpips":
                return float(self.ready["lpips"].distance_uint8(r, g)[0])
            return float((psnr_ssim.psnr if name == "psnr" else psnr_ssim.ssim)(r, g))
        except ValueError as e:  # e.g. SSIM of an image under 11 px
            self.report["pairs_left_out"].append({"metric": name, "name": stem, "reason": str(e)})
            logger.warning("%s: %s left out of %s: %s", stem, name, name, e)
            return math.nan

    def add_batch(self, names: list, restored: list, truth: list) -> None:
        self.names += names
        for name in list(self.values):
            try:
                self.values[name] += [self._pair_value(name, n, r, g)
                                      for n, r, g in zip(names, restored, truth)]
            except Exception as e:  # noqa: BLE001 - record and go on with the other metrics
                self._fail(name, e)
        for name, step in (("fid", self._fid_batch), ("ipr", self._ipr_batch)):
            if name in self.ready:
                try:
                    step(restored, truth)
                except Exception as e:  # noqa: BLE001
                    self._fail(name, e)

    def _fid_batch(self, restored, truth) -> None:
        self.fid_rest.append(self.ready["fid"](restored))
        if self.gt_stats is None:
            self.fid_gt.append(self.ready["fid"](truth))

    def _ipr_batch(self, restored, truth) -> None:
        emb = self.ready["ipr"]
        self.id_rest.append(emb.embed(restored, progress=False))
        self.id_gt.append(emb.embed(truth, progress=False))

    def finish(self, identities) -> None:
        """Means, FID and (i)Precision / (i)Recall; ``identities(names)`` gives the ids."""
        report = self.report
        report["per_image"] = [{"name": n} for n in self.names]
        for name, values in self.values.items():
            _per_image_mean(report, name, values)
        for name, step in (("fid", self._fid_finish), ("ipr", lambda: self._ipr_finish(identities))):
            if name in self.ready:
                try:
                    step()
                except Exception as e:  # noqa: BLE001
                    self._fail(name, e)

    def _fid_finish(self) -> None:
        from faceres_tf.metrics import fid as fidm

        mu, sigma = self.gt_stats or fidm.feature_statistics(np.concatenate(self.fid_gt))
        if self.gt_stats is None and self.s.gt_fid_stats:
            fidm.save_statistics(self.s.gt_fid_stats, mu, sigma, network="keras_inception_v3")
        self.report["metrics"]["fid"] = fidm.frechet_distance(
            *fidm.feature_statistics(np.concatenate(self.fid_rest)), mu, sigma)
        if len(self.names) < 2048:
            _note(self.report, f"fid: only {len(self.names)} images (< 2048 feature dims); FID is "
                               "biased upward on small sets, compare only runs of equal size.")

    def _ipr_finish(self, identities) -> None:
        from faceres_tf.metrics.precision_recall import identity_precision_recall

        e_rest, e_gt = np.concatenate(self.id_rest), np.concatenate(self.id_gt)
        self.report["id_net"] = self.ready["ipr"].name
        ok = np.isfinite(e_rest).all(axis=1) & np.isfinite(e_gt).all(axis=1)
        if not ok.all():
            _note(self.report, f"ipr: no face found in {int((~ok).sum())} pair(s), left out: "
                  + ", ".join(n for n, good in zip(self.names, ok) if not good)[:500])
        ids = identities(self.names)
        self.report["metrics"].update(identity_precision_recall(
            e_gt[ok], e_rest[ok], k=self.s.k, real_ids=ids[ok], restored_ids=ids[ok]))
        self.report["ipr_k"] = self.s.k


def _note(report: dict, text: str) -> None:
    report.setdefault("notes", []).append(text)


def _per_image_mean(report: dict, name: str, values: list) -> None:
    """Stores per-pair values and their mean; pairs left out (nan) are None in
    the rows, infinite values (identical images) are left out of the mean with a note."""
    for row, v in zip(report["per_image"], values):
        row[name] = None if math.isnan(v) else v
    scored = [v for v in values if not math.isnan(v)]
    finite = [v for v in scored if math.isfinite(v)]
    if not scored:
        report["errors"][name] = "no pair could be scored (see pairs_left_out)"
        return
    report["metrics"][name] = float(np.mean(finite)) if finite else float("inf")
    if len(finite) < len(scored):
        _note(report, f"{name}: {len(scored) - len(finite)} identical pair(s) (inf) left out of the mean")
    if len(scored) < len(values):
        left = [r["name"] for r in report["pairs_left_out"] if r["metric"] == name]
        _note(report, f"{name}: {len(left)} pair(s) left out of the mean: {', '.join(left[:10])}")
