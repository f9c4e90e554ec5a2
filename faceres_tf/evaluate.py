"""Scores a folder of restored faces against a folder of ground truths.

    faceres-evaluate --restored OUT_DIR --gt GT_DIR \
        [--metrics=psnr,ssim,lpips,fid,ipr] [--id_net=dlib] [--k=3] \
        [--ids ids.csv] [--lpips_weights lpips_vgg.npz] [--inception_weights F.h5] \
        [--output results.json] [--overwrite] [--quiet]

(``python -m faceres_tf.evaluate`` is the same command.)

Works for the output of any method (nothing here depends on this package's
models). Conventions:

* Pairing: by exact file-name stem (``0001.png`` <-> ``0001.jpg``); files
  present on one side only are listed in the report (``unmatched_restored`` /
  ``unmatched_gt``) and left out.
* Size mismatch [ours]: the restored image is resized (bicubic) to the ground
  truth's size and the pair is listed under ``resized`` with a warning.
* A file that cannot be read is listed under ``skipped`` with the reason; the
  rest is scored.
* Metrics: PSNR / SSIM (RGB, 0-255, float64, skimage-equal, see
  :mod:`faceres_tf.metrics.psnr_ssim`) and LPIPS are means over pairs; FID
  is between the two sets (Keras Inception V3); ``ipr`` gives iPrecision /
  iRecall (and plain precision / recall) on identity features (``--id_net``:
  dlib by default, offline). Identity of a pair = its stem, or the ``--ids``
  CSV (two columns ``name,id``; name = file stem) when a set holds several
  photos per person.
* A metric that fails (e.g. missing LPIPS weights) is reported under
  ``errors`` with the reason; the others are still computed and written.

Writes ``--output`` (JSON), the same path with ``.csv`` (one summary row) and
``_per_image.csv`` (per-pair PSNR / SSIM / LPIPS). Exit status: 0 all
requested metrics computed, 1 some failed, 2 nothing to score (or a usage
error: one ``error: ...`` line on stderr). The table is printed on stdout;
failed metrics, notes and warnings go to stderr.

Reports (the table, strict JSON, CSV files): :mod:`faceres_tf.evaluate_report`.
Infinite values: the PSNR of identical images is infinite. The mean PSNR
leaves such pairs out (with a note); when every pair is identical it is
infinite. The JSON file is strict JSON: every non-finite number is written
as ``null`` and listed under ``non_finite`` (key -> "inf" / "-inf" / "nan");
the CSV files and the printed table write ``inf``.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import math
import sys
import warnings
from pathlib import Path

import numpy as np

from faceres_tf import cli, image_io
from faceres_tf.errors import UnsafePathError, UserError
from faceres_tf.evaluate_report import format_table, output_paths, write_outputs

logger = logging.getLogger("faceres_tf.evaluate")



def images_by_stem(folder: Path) -> dict[str, Path]:
    """stem -> path for the image files directly in ``folder`` (not recursive)."""
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: not a folder.")
    out: dict[str, Path] = {}
    for p in image_io.list_images(folder, recursive=False).images:
        if p.stem in out:
            logger.warning("%s: two files share the stem %r; using %s", folder, p.stem,
                           out[p.stem].name)
            continue
        out[p.stem] = p
    return out


def read_ids_csv(path: Path) -> dict[str, str]:
    """``name,id`` rows (header optional) -> {stem: id}."""
    ids: dict[str, str] = {}
    with open(path, newline="", encoding="utf-8") as f:
        for i, row in enumerate(csv.reader(f)):
            if not row or row[0].startswith("#"):
                continue
            if len(row) < 2:
                raise ValueError(f"{path}:{i + 1}: expected 'name,id', got {row}.")
            if i == 0 and row[0].strip().lower() in ("name", "file", "filename", "stem"):
                continue
            ids[Path(row[0].strip()).stem] = row[1].strip()
    return ids


def load_pairs(restored_dir, gt_dir, report: dict):
    """Reads matched pairs; fills ``report`` with unmatched / skipped / resized lists."""
    from PIL import Image

    rest, gt = images_by_stem(Path(restored_dir)), images_by_stem(Path(gt_dir))
    report["unmatched_restored"] = sorted(set(rest) - set(gt))
    report["unmatched_gt"] = sorted(set(gt) - set(rest))
    for side, names in (("restored", report["unmatched_restored"]), ("gt", report["unmatched_gt"])):
        if names:
            logger.warning("%d %s file(s) have no partner and are left out, e.g. %s",
                           len(names), side, ", ".join(names[:5]))
    names, restored, truth = [], [], []
    for stem in sorted(set(rest) & set(gt)):
        try:
            r, g = image_io.read_rgb(rest[stem]), image_io.read_rgb(gt[stem])
        except image_io.ImageReadError as e:
            report["skipped"].append({"name": stem, "reason": str(e)})
            logger.warning("skipped: %s", e)
            continue
        if r.shape != g.shape:
            report["resized"].append({"name": stem, "restored": list(r.shape[:2]),
                                      "gt": list(g.shape[:2])})
            logger.warning("%s: restored %s resized to ground truth %s", stem, r.shape[:2],
                           g.shape[:2])
            r = np.asarray(Image.fromarray(r).resize((g.shape[1], g.shape[0]), Image.BICUBIC))
        names.append(stem)
        restored.append(r)
        truth.append(g)
    return names, restored, truth


@dataclasses.dataclass
class Pairs:
    """The matched, readable pairs: names (stems), restored and ground-truth images."""

    names: list
    restored: list
    truth: list


@dataclasses.dataclass
class MetricSettings:
    """What the metrics need besides the images (the arguments of :func:`evaluate_folders`)."""

    id_net: str = "dlib"
    k: int = 3
    ids_csv: object = None
    lpips_weights: object = None
    inception_weights: object = None
    id_weights: object = None
    embedder: object = None
    gt_fid_stats: object = None
    progress: bool = True


def _note(report: dict, text: str) -> None:
    report.setdefault("notes", []).append(text)


def _per_image_mean(report: dict, name: str, values: list) -> None:
    """Stores per-pair values and their mean (infinite values left out, with a note)."""
    for row, v in zip(report["per_image"], values):
        row[name] = v
    finite = [v for v in values if math.isfinite(v)]
    report["metrics"][name] = float(np.mean(finite)) if finite else float("inf")
    if len(finite) < len(values):
        _note(report, f"{name}: {len(values) - len(finite)} identical pair(s) (inf) left out of the mean")


def _psnr(pairs: Pairs, s: MetricSettings, report: dict) -> None:
    from faceres_tf.metrics import psnr_ssim

    _per_image_mean(report, "psnr", [psnr_ssim.psnr(r, g) for r, g in zip(pairs.restored, pairs.truth)])


def _ssim(pairs: Pairs, s: MetricSettings, report: dict) -> None:
    from faceres_tf.metrics import psnr_ssim

    _per_image_mean(report, "ssim", [psnr_ssim.ssim(r, g) for r, g in zip(pairs.restored, pairs.truth)])


def _lpips(pairs: Pairs, s: MetricSettings, report: dict) -> None:
    from faceres_tf.metrics.lpips import LPIPS

    model = LPIPS(s.lpips_weights)
    _per_image_mean(report, "lpips", [float(model.distance_uint8(r, g)[0])
                                      for r, g in zip(pairs.restored, pairs.truth)])


def _fid(pairs: Pairs, s: MetricSettings, report: dict) -> None:
    from faceres_tf.metrics import fid as fidm

    net = fidm.InceptionFeatures(s.inception_weights)
    f_rest = net(pairs.restored)
    if s.gt_fid_stats and Path(s.gt_fid_stats).is_file():
        mu, sigma = fidm.load_statistics(s.gt_fid_stats)
    else:
        mu, sigma = fidm.feature_statistics(net(pairs.truth))
        if s.gt_fid_stats:
            fidm.save_statistics(s.gt_fid_stats, mu, sigma, network="keras_inception_v3")
    report["metrics"]["fid"] = fidm.frechet_distance(*fidm.feature_statistics(f_rest), mu, sigma)
    if len(pairs.names) < 2048:
        _note(report, f"fid: only {len(pairs.names)} images (< 2048 feature dims); FID is biased "
                      "upward on small sets, compare only runs of equal size.")


def _identities(names: list, ids_csv, report: dict) -> np.ndarray:
    """The identity of each pair: its stem, or its row of the ``--ids`` CSV."""
    if not ids_csv:
        return np.asarray(names)
    table = read_ids_csv(Path(ids_csv))
    missing = [n for n in names if n not in table]
    if missing:
        _note(report, f"ipr: {len(missing)} name(s) not in {ids_csv}; their stem is their identity, "
                      f"e.g. {missing[:5]}")
    return np.asarray([table.get(n, n) for n in names])


def _ipr(pairs: Pairs, s: MetricSettings, report: dict) -> None:
    from faceres_tf.metrics.identity import get_embedder
    from faceres_tf.metrics.precision_recall import identity_precision_recall

    emb = s.embedder if s.embedder is not None else get_embedder(s.id_net, weights=s.id_weights)
    report["id_net"] = emb.name
    e_rest = emb.embed(pairs.restored, progress=s.progress)
    e_gt = emb.embed(pairs.truth, progress=s.progress)
    ok = np.isfinite(e_rest).all(axis=1) & np.isfinite(e_gt).all(axis=1)
    if not ok.all():
        _note(report, f"ipr: no face found in {int((~ok).sum())} pair(s), left out: "
              + ", ".join(n for n, good in zip(pairs.names, ok) if not good)[:500])
    ids = _identities(pairs.names, s.ids_csv, report)
    report["metrics"].update(identity_precision_recall(e_gt[ok], e_rest[ok], k=s.k, real_ids=ids[ok],
                                                       restored_ids=ids[ok]))
    report["ipr_k"] = s.k


# name -> fn(pairs, settings, report): fills report["metrics"] (and per_image, notes).
METRICS = {"psnr": _psnr, "ssim": _ssim, "lpips": _lpips, "fid": _fid, "ipr": _ipr}
ALL_METRICS = tuple(METRICS)


def evaluate_folders(restored_dir, gt_dir, metrics=("psnr", "ssim", "ipr"), id_net: str = "dlib",
                     k: int = 3, ids_csv=None, lpips_weights=None, inception_weights=None,
                     id_weights=None, embedder=None, gt_fid_stats=None,
                     progress: bool = True) -> dict:
    """Computes the requested metrics; never raises for a single failing metric.

    Returns a JSON-ready dict: ``metrics`` (name -> float), ``errors``
    (metric -> reason), ``per_image``, ``n_pairs`` and the file lists
    ``unmatched_restored``, ``unmatched_gt``, ``skipped``, ``resized``.
    ``embedder`` (an :class:`IdentityEmbedder`) overrides ``id_net``.
    """
    metrics = [m.strip().lower() for m in metrics if m.strip()]
    unknown = sorted(set(metrics) - set(METRICS))
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; choose from {list(ALL_METRICS)}.")
    settings = MetricSettings(id_net, k, ids_csv, lpips_weights, inception_weights, id_weights,
                              embedder, gt_fid_stats, progress)
    report: dict = {"restored_dir": str(restored_dir), "gt_dir": str(gt_dir),
                    "requested": metrics, "metrics": {}, "errors": {}, "skipped": [],
                    "resized": [], "per_image": []}
    pairs = Pairs(*load_pairs(restored_dir, gt_dir, report))
    report["n_pairs"] = len(pairs.names)
    if not pairs.names:
        report["errors"]["all"] = (f"no image pairs to score: {restored_dir} and {gt_dir} share no "
                                   "readable files with the same name stem.")
        return report
    report["per_image"] = [{"name": n} for n in pairs.names]
    for name in metrics:
        try:
            METRICS[name](pairs, settings, report)
        except Exception as e:  # noqa: BLE001 - record and go on with the other metrics
            report["errors"][name] = f"{type(e).__name__}: {e}"
            logger.warning("%s failed (reason below and in the report)", name)
    return report


def build_parser() -> cli.Parser:
    p = cli.make_parser(
        "faceres-evaluate", __doc__.split("\n\n")[0],
        output=dict(default="results.json", help="JSON output (CSV files written next to it)"),
        overwrite="replace existing output files", quiet=True)
    p.add_argument("--restored", required=True, help="folder of restored images")
    p.add_argument("--gt", required=True, help="folder of ground-truth images (same stems)")
    p.add_argument("--metrics", default="psnr,ssim,lpips,fid,ipr",
                   help=f"comma-separated subset of {','.join(ALL_METRICS)}")
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


def _outputs_that_are_inputs(args) -> str:
    """The first output path that is an input file (an image of --restored /
    --gt, the --ids CSV or the --gt_fid_stats cache), or ""."""
    inputs = set()
    for folder in (args.restored, args.gt):
        if Path(folder).is_dir():
            inputs |= {p.resolve() for p in Path(folder).iterdir()
                       if p.suffix.lower() in image_io.IMAGE_EXTENSIONS}
    for f in (args.ids, args.gt_fid_stats):
        if f:
            inputs.add(Path(f).resolve())
    for p in output_paths(Path(args.output)):
        if p.resolve() in inputs:
            return str(p)
    return ""


def check_outputs(args) -> None:
    """Raises :class:`UserError` when ``--output`` would replace an input or,
    without ``--overwrite``, an existing file."""
    clash = _outputs_that_are_inputs(args)
    if clash:
        raise UnsafePathError(f"--output would write {clash}, which is one of the inputs; choose "
                              "another --output.")
    existing = [str(p) for p in output_paths(Path(args.output)) if p.exists()]
    if existing and not args.overwrite:
        raise UserError(f"{', '.join(existing)} already exist(s); choose another --output or pass "
                        "--overwrite.")


def print_results(args, report: dict, files: list) -> None:
    """The table (and the files written) on stdout; failures and notes on stderr."""
    print(f"{report['n_pairs']} pairs: {args.restored} vs {args.gt}")
    print(format_table(report))
    for metric, reason in report["errors"].items():
        print(f"FAILED {metric}: {reason}", file=sys.stderr)
    for note in report.get("notes", []):
        print(f"note: {note}", file=sys.stderr)
    print("wrote " + ", ".join(str(f) for f in files), flush=True)


def evaluate_command(args) -> int:
    """The command: checks the outputs, scores, writes and prints the results."""
    warnings.simplefilter("default")
    check_outputs(args)
    metrics = args.metrics.split(",")
    if {"lpips", "fid"} & set(metrics) or args.id_net != "dlib":
        cli.import_tensorflow_quietly(args.verbose)
    try:
        report = evaluate_folders(
            args.restored, args.gt, metrics=metrics, id_net=args.id_net, k=args.k,
            ids_csv=args.ids, lpips_weights=args.lpips_weights,
            inception_weights=args.inception_weights, id_weights=args.id_weights,
            gt_fid_stats=args.gt_fid_stats, progress=not args.quiet)
    except (FileNotFoundError, ValueError) as e:  # missing folder, unknown metric
        raise UserError(e) from None
    print_results(args, report, write_outputs(report, Path(args.output)))
    if report["n_pairs"] == 0:
        return 2
    return 1 if report["errors"] else 0


def main(argv=None) -> int:
    """``faceres-evaluate`` / ``python -m faceres_tf.evaluate``; returns the exit status."""
    return cli.run(evaluate_command, build_parser(), argv, tensorflow=False)


if __name__ == "__main__":
    sys.exit(main())
