"""The metrics of :mod:`faceres_tf.evaluate`, computed while pairs stream by.

:func:`prepare_metrics` builds every network a metric needs *before* any
pair is read, so missing weights are known at once: with the default
``--metrics=auto`` such a metric is skipped with one line; a metric named
explicitly raises :class:`~faceres_tf.weights.MissingWeightsError` (a usage
error). :class:`StreamingScorer` then takes the pairs batch by batch through
the package's one scorer (:mod:`faceres_tf.metrics.scorer`, which holds the
rules: PSNR capped at 100 dB, pairs a metric cannot score left out of that
metric only, ...): PSNR, SSIM and LPIPS per pair, FID and identity features
per image (a few KB per pair), so memory does not grow with the images. The
pairs left out are named in the report (``pairs_left_out``).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from pathlib import Path

import numpy as np

from faceres_tf.metrics import fid as fidm
from faceres_tf.metrics.scorer import (
    NETWORK_OF,
    MetricUnavailable,
    Networks,
    SetScorer,
    load_network,
)
from faceres_tf.weights import INCEPTION_V3_NOTOP, MissingWeightsError, find_weights, keras_cache_dir

logger = logging.getLogger("faceres_tf.evaluate")

# metrics that run offline with what the package installs
OFFLINE_METRICS = ("psnr", "ssim", "ipr")
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
    """The network ``name`` needs (None for PSNR / SSIM); raises
    :class:`MetricUnavailable` when its weights or package are missing."""
    if name == "ipr" and s.embedder is not None:
        return s.embedder
    return load_network(name, s.lpips_weights, s.inception_weights, s.id_net, s.id_weights)


def skip_reason(name: str, exc: BaseException, s: MetricSettings) -> str:
    """One line: why ``name`` cannot run and what would make it run."""
    exc = exc.__cause__ or exc  # MetricUnavailable wraps the missing file's error
    if name == "lpips" and not (s.lpips_weights and Path(s.lpips_weights).is_file()):
        given = f"{s.lpips_weights} does not exist; " if s.lpips_weights else ""
        return (f"no LPIPS weights ({given}pass --lpips_weights FILE.npz, made once with "
                "python -m faceres_tf.metrics.convert_lpips_weights)")
    if name == "fid" and "pretrained weights not found" in str(exc):

        return (f"no Inception V3 weights ({INCEPTION_V3_NOTOP.filename} in {keras_cache_dir()}, "
                "or --inception_weights FILE)")
    return first_line(exc)


def prepare_metrics(metrics, settings: MetricSettings, explicit: bool, report: dict) -> dict:
    """``{metric: network or None}`` for the metrics that can run. A metric
    whose weights (or package) are missing is skipped with one line (recorded
    under ``skipped_metrics``) when not ``explicit``, else the error is raised."""
    ready = {}
    for name in metrics:
        try:
            ready[name] = _build(name, settings)
        except MetricUnavailable as e:
            reason = skip_reason(name, e, settings)
            if explicit:
                raise MissingWeightsError(f"--metrics {name}: {reason}; leave it out of --metrics "
                                          "to score the others") from None
            report["skipped_metrics"][name] = reason
            logger.warning("%s skipped: %s", name, reason)
    return ready


def tensorflow_needed(metrics, s: MetricSettings) -> bool:
    """True when a metric that will run uses TensorFlow (load it quietly first)."""
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
    """Takes pairs batch by batch, one :class:`~faceres_tf.metrics.scorer.SetScorer`
    per metric (so one metric's failure keeps the others); :meth:`finish` fills
    ``report["metrics"]``, the per-image rows and the notes."""

    def __init__(self, ready: dict, settings: MetricSettings, report: dict):
        self.s, self.report = settings, report
        self.names: list = []
        self.gt_stats = None
        if "fid" in ready and settings.gt_fid_stats and Path(settings.gt_fid_stats).is_file():
            self.gt_stats = fidm.load_statistics(settings.gt_fid_stats)
        self.scorers = {}
        for name, net in ready.items():
            nets = Networks(**({NETWORK_OF[name]: net} if name in NETWORK_OF else {}))
            self.scorers[name] = SetScorer((name,), nets, settings.k,
                                           self.gt_stats if name == "fid" else None)

    def _fail(self, name: str, exc: Exception) -> None:
        self.report["errors"][name] = f"{type(exc).__name__}: {exc}"
        logger.warning("%s failed: %s", name, first_line(exc))
        self.scorers.pop(name, None)

    def add_batch(self, names: list, restored: list, truth: list) -> None:
        self.names += names
        for name, scorer in list(self.scorers.items()):
            try:
                scorer.add(restored, truth)
            except Exception as e:  # noqa: BLE001 - record and go on with the other metrics
                self._fail(name, e)

    def finish(self, identities) -> None:
        """Means, FID and (i)Precision / (i)Recall; ``identities(names)`` gives the ids."""
        self.report["per_image"] = [{"name": n} for n in self.names]
        ids = identities(self.names) if "ipr" in self.scorers else None
        for name, scorer in list(self.scorers.items()):
            try:
                result = scorer.result(ids)
            except Exception as e:  # noqa: BLE001
                self._fail(name, e)
                continue
            if name in result.errors:
                self.report["errors"][name] = result.errors[name]
                continue
            self.report["metrics"].update(result.metrics)
            if name == "fid":
                self._fid_notes(result)
            elif name == "ipr":
                self._ipr_notes(result)
            else:
                self._pair_rows(name, result)

    def _pair_rows(self, name: str, result) -> None:
        """Per-pair values into the rows (None: left out); the pairs left out, named."""
        for row, v in zip(self.report["per_image"], result.per_image[name]):
            row[name] = None if math.isnan(v) else float(v)
        left = [(self.names[i], why) for _, i, why in result.left_out]
        for stem, why in left:
            self.report["pairs_left_out"].append({"metric": name, "name": stem, "reason": why})
            logger.warning("%s: %s left out of %s: %s", stem, name, name, why)
        if len(left) == len(self.names):
            self.report["errors"][name] = "no pair could be scored (see pairs_left_out)"
            del self.report["metrics"][name]
        elif left:
            _note(self.report, f"{name}: {len(left)} pair(s) left out of the mean: "
                               + ", ".join(stem for stem, _ in left[:10]))

    def _fid_notes(self, result) -> None:
        if self.gt_stats is None and self.s.gt_fid_stats:
            fidm.save_statistics(self.s.gt_fid_stats, *result.truth_stats, network="keras_inception_v3")
        if len(self.names) < 2048:
            _note(self.report, f"fid: only {len(self.names)} images (< 2048 feature dims); FID is "
                               "biased upward on small sets, compare only runs of equal size.")

    def _ipr_notes(self, result) -> None:
        self.report["id_net"] = self.scorers["ipr"].net.embedder.name
        self.report["ipr_k"] = self.s.k
        for side, feats in (("restored", result.features["restored"]),
                            ("ground-truth", result.features["real"])):
            bad = ~np.isfinite(feats).all(axis=1)
            if bad.any():
                _note(self.report, f"ipr: no face found in {int(bad.sum())} {side} image(s), left "
                      "out of that side: " + ", ".join(n for n, b in zip(self.names, bad) if b)[:500])


def _note(report: dict, text: str) -> None:
    report.setdefault("notes", []).append(text)
