"""Scores a folder of restored faces against a folder of ground truths.

    faceres-evaluate --restored OUT_DIR --gt GT_DIR \
        [--metrics=auto | psnr,ssim,lpips,fid,ipr] [--id_net=dlib] [--k=3] \
        [--ids ids.csv] [--lpips_weights lpips_vgg.npz] [--inception_weights F.h5] \
        [--output results.json] [--overwrite] [--quiet]

(``python -m faceres_tf.evaluate`` is the same command.)

Works for the output of any method (nothing here depends on this package's
models). Conventions:

* Everything that can be checked is checked before any image is scored:
  the folders, the pairs, the ``--ids`` CSV, the output path and the
  weights of every metric (:mod:`faceres_tf.evaluate_inputs`,
  :mod:`faceres_tf.evaluate_metrics`).
* Metrics: ``--metrics=auto`` (default) scores PSNR, SSIM and
  iPrecision / iRecall (dlib, offline) plus LPIPS and FID when their weights
  are on this machine; a metric without weights is skipped with one line.
  A metric named explicitly must be able to run: missing weights are a usage
  error (exit 2) before any work.
* Pairing: by file-name stem in Unicode NFC (``0001.png`` <-> ``0001.jpg``);
  files on one side only are listed (``unmatched_restored`` /
  ``unmatched_gt``); a stem held by two files on one side is listed under
  ``ambiguous`` and left out. No pairs at all: exit 2, nothing written.
* Size mismatch [ours]: the restored image is resized (bicubic) to the
  ground truth's size and listed under ``resized``. An unreadable file is
  listed under ``skipped``; a pair one metric cannot score (SSIM needs
  11 px) is left out of that metric only, named under ``pairs_left_out``.
* Scores come from the package's one scorer
  (:mod:`faceres_tf.metrics.scorer`, shared with training validation and
  the paper's tables), with its rules: PSNR / SSIM (RGB, 0-255, float64,
  skimage-equal, see :mod:`faceres_tf.metrics.psnr_ssim`) and LPIPS are
  means over pairs, PSNR capped at 100 dB (an identical pair scores 100 dB);
  FID is between the two sets (Keras Inception V3); ``ipr`` gives
  iPrecision / iRecall (and plain precision / recall) on identity features
  (``--id_net``); an image without a face found is left out of its side.
  Identity of a pair = its stem, or the ``--ids`` CSV (``name,id``). Fewer
  than 20 x k pairs: a warning that iPR saturates.
* Pairs stream in batches (memory does not grow with the set) with a
  progress bar on stderr (``--quiet`` hides it).

Writes ``--output`` (JSON), the same path with ``.csv`` (one summary row) and
``_per_image.csv``, each atomically (a temporary file renamed into place),
after the table is printed. Exit status: 0 every metric computed, 1 a
metric failed or could not be computed while scoring (reported under
``errors``), 2 a usage error
(one ``error: ...`` line on stderr).

Reports (the table, strict JSON, CSV files): :mod:`faceres_tf.evaluate_report`.
The JSON file is strict JSON: should a value not be finite, it is written as
``null`` and listed under ``non_finite`` (key -> "inf" / "-inf" / "nan");
the CSV files and the printed table write ``inf`` / ``nan``.
"""

from __future__ import annotations

import logging
import sys
import warnings
from pathlib import Path

import numpy as np

from faceres_tf import cli
from faceres_tf.evaluate_inputs import (  # noqa: F401 - public names of this module
    EvaluateInputError,
    images_by_stem,
    load_pairs,
    pair_files,
    read_ids_csv,
    read_pair,
)
from faceres_tf.evaluate_metrics import (
    OFFLINE_METRICS,
    MetricSettings,
    StreamingScorer,
    ipr_size_problem,
    prepare_metrics,
    tensorflow_needed,
    warn_if_ipr_saturates,
)
from faceres_tf.evaluate_report import check_outputs, format_table, write_outputs  # noqa: F401
from faceres_tf.metrics.scorer import ALL_METRICS

logger = logging.getLogger("faceres_tf.evaluate")

BATCH_PAIRS = 32  # pairs read and scored together (memory ~ one batch of images)


def resolve_metrics(metrics) -> tuple[list, bool]:
    """``(metric names, explicit)``: ``auto`` (or nothing) -> every metric, not explicit."""
    names = [m.strip().lower() for m in metrics if m.strip()]
    if not names or names == ["auto"]:
        return list(ALL_METRICS), False
    unknown = sorted(set(names) - set(ALL_METRICS))
    if unknown:
        raise EvaluateInputError(f"unknown metric(s) {unknown}; choose from "
                                 f"{['auto', *ALL_METRICS]}.")
    return list(dict.fromkeys(names)), True


def _identities(table: dict | None, report: dict, ids_csv):
    """``names -> ids``: each pair's stem, or its row of the ``--ids`` CSV."""
    def lookup(names):
        if table is None:
            return np.asarray(names)
        missing = [n for n in names if n not in table]
        if missing:
            report.setdefault("notes", []).append(
                f"ipr: {len(missing)} name(s) not in {ids_csv}; their stem is their identity, "
                f"e.g. {missing[:5]}")
        return np.asarray([table.get(n, n) for n in names])
    return lookup


def _stream(pairs: list, scorer: StreamingScorer, report: dict, progress: bool) -> None:
    """Reads and scores the pairs batch by batch, with a progress bar on stderr."""
    from tqdm import tqdm

    with tqdm(total=len(pairs), desc="scoring", unit="pair", disable=not progress,
              file=sys.stderr) as bar:
        for s in range(0, len(pairs), BATCH_PAIRS):
            names, restored, truth = [], [], []
            for stem, rp, gp in pairs[s:s + BATCH_PAIRS]:
                pair = read_pair(stem, rp, gp, report)
                if pair is not None:
                    names.append(stem)
                    restored.append(pair[0])
                    truth.append(pair[1])
            if names:
                scorer.add_batch(names, restored, truth)
            bar.update(len(pairs[s:s + BATCH_PAIRS]))


def evaluate_folders(restored_dir, gt_dir, metrics=("auto",), id_net: str = "dlib",
                     k: int = 3, ids_csv=None, lpips_weights=None, inception_weights=None,
                     id_weights=None, embedder=None, gt_fid_stats=None,
                     progress: bool = True) -> dict:
    """Checks every input, then scores the pairs as they stream by.

    Returns a JSON-ready dict: ``metrics`` (name -> float), ``errors``
    (metric -> reason, for failures while scoring), ``skipped_metrics``
    (metric -> why it did not run, ``auto`` only), ``per_image``,
    ``n_pairs`` and the lists ``unmatched_restored``, ``unmatched_gt``,
    ``ambiguous``, ``skipped``, ``resized``, ``pairs_left_out``.
    ``embedder`` (an :class:`IdentityEmbedder`) overrides ``id_net``. Raises
    :class:`EvaluateInputError` (a ``ValueError``) or
    :class:`~faceres_tf.weights.MissingWeightsError` for bad inputs, before
    any scoring, and when there is no pair to score.
    """
    names, explicit = resolve_metrics(metrics)
    settings = MetricSettings(id_net, k, ids_csv, lpips_weights, inception_weights, id_weights,
                              embedder, gt_fid_stats, progress)
    report: dict = {"restored_dir": str(restored_dir), "gt_dir": str(gt_dir), "requested": names,
                    "metrics": {}, "errors": {}, "skipped_metrics": {}, "skipped": [],
                    "resized": [], "pairs_left_out": [], "per_image": []}
    table = read_ids_csv(ids_csv) if ids_csv else None
    pairs = pair_files(restored_dir, gt_dir, report)
    if not pairs:
        raise EvaluateInputError(
            f"no image pairs to score: {restored_dir} and {gt_dir} share no image file name stems "
            f"({len(report['unmatched_restored'])} restored and {len(report['unmatched_gt'])} "
            "ground-truth files without a partner).")
    problem = ipr_size_problem(len(pairs), k) if "ipr" in names else ""
    if problem:
        if explicit:
            raise EvaluateInputError(f"--metrics ipr: {problem}.")
        names.remove("ipr")
        report["skipped_metrics"]["ipr"] = problem
        logger.warning("ipr skipped: %s", problem)
    ready = prepare_metrics(names, settings, explicit, report)
    if "ipr" in ready:
        warn_if_ipr_saturates(len(pairs), k, report)
    report["computed"] = list(ready)
    scorer = StreamingScorer(ready, settings, report)
    _stream(pairs, scorer, report, progress)
    report["n_pairs"] = len(scorer.names)
    if not scorer.names:
        raise EvaluateInputError(f"no readable image pairs: all {len(pairs)} pair(s) have an "
                                 "unreadable file (see the warnings above).")
    scorer.finish(_identities(table, report, ids_csv))
    return report


def build_parser() -> cli.Parser:
    p = cli.make_parser(
        "faceres-evaluate", __doc__.split("\n\n")[0],
        output=dict(default="results.json", help="JSON output (CSV files written next to it)"),
        overwrite="replace existing output files", quiet=True)
    p.add_argument("--restored", required=True, help="folder of restored images")
    p.add_argument("--gt", required=True, help="folder of ground-truth images (same stems)")
    p.add_argument("--metrics", default="auto",
                   help=f"'auto' ({','.join(OFFLINE_METRICS)}, plus lpips / fid when their weights "
                        f"are here) or a comma-separated subset of {','.join(ALL_METRICS)}")
    p.add_argument("--id_net", default="dlib", choices=("dlib", "facenet", "inception_v3"),
                   help="identity network for iPrecision/iRecall")
    p.add_argument("--id_weights", default=None, help="weights for --id_net facenet/inception_v3")
    p.add_argument("--k", type=int, default=3, help="neighbourhood size for (i)Precision/(i)Recall")
    p.add_argument("--ids", default=None, help="CSV 'name,id' when a person has several photos")
    p.add_argument("--lpips_weights", default=None, help=".npz from faceres-convert-lpips")
    p.add_argument("--inception_weights", default=None, help="Keras InceptionV3 notop .h5")
    p.add_argument("--gt_fid_stats", default=None,
                   help=".npz cache of the ground truth's FID statistics (read if present, else written)")
    return p


def print_results(args, report: dict) -> None:
    """The table on stdout; failures and notes on stderr (skipped metrics were
    named, one line each, before the scoring)."""
    print(f"{report['n_pairs']} pairs: {args.restored} vs {args.gt}")
    print(format_table(report), flush=True)
    for metric, reason in report["errors"].items():
        print(f"FAILED {metric}: {reason}", file=sys.stderr)
    for note in report.get("notes", []):
        if not note.startswith("ipr: each neighbourhood"):  # warned before the scoring
            print(f"note: {note}", file=sys.stderr)


def evaluate_command(args) -> int:
    """The command: checks inputs and outputs, scores, prints, then writes."""
    warnings.simplefilter("default")
    if args.k < 1:
        raise EvaluateInputError(f"--k must be >= 1, got {args.k}.")
    check_outputs(args)
    names, _ = resolve_metrics(args.metrics.split(","))
    settings = MetricSettings(args.id_net, args.k, lpips_weights=args.lpips_weights,
                              inception_weights=args.inception_weights)
    if tensorflow_needed(names, settings):
        cli.import_tensorflow_quietly(args.verbose)
    report = evaluate_folders(
        args.restored, args.gt, metrics=args.metrics.split(","), id_net=args.id_net, k=args.k,
        ids_csv=args.ids, lpips_weights=args.lpips_weights,
        inception_weights=args.inception_weights, id_weights=args.id_weights,
        gt_fid_stats=args.gt_fid_stats, progress=not args.quiet)
    print_results(args, report)
    files = write_outputs(report, Path(args.output))
    print("wrote " + ", ".join(str(f) for f in files), flush=True)
    return 1 if report["errors"] else 0


def main(argv=None) -> int:
    """``faceres-evaluate`` / ``python -m faceres_tf.evaluate``; returns the exit status."""
    return cli.run(evaluate_command, build_parser(), argv, tensorflow=False)


if __name__ == "__main__":
    sys.exit(main())
