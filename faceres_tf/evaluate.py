"""Scores a folder of restored faces against a folder of ground truths.

    python -m faceres_tf.evaluate --restored OUT_DIR --gt GT_DIR \
        [--metrics=psnr,ssim,lpips,fid,ipr] [--id_net=dlib] [--k=3] \
        [--ids ids.csv] [--lpips_weights lpips_vgg.npz] [--inception_weights F.h5] \
        [--out results.json]

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

Writes ``--out`` (JSON), the same path with ``.csv`` (one summary row) and
``_per_image.csv`` (per-pair PSNR / SSIM / LPIPS). Exit status: 0 all
requested metrics computed, 1 some failed, 2 nothing to score.

Infinite values: the PSNR of identical images is infinite. The mean PSNR
leaves such pairs out (with a note); when every pair is identical it is
infinite. The JSON file is strict JSON: every non-finite number is written
as ``null`` and listed under ``non_finite`` (key -> "inf" / "-inf" / "nan");
the CSV files and the printed table write ``inf``.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import sys
import warnings
from pathlib import Path

import numpy as np

from faceres_tf import image_io
from faceres_tf.errors import UserError

logger = logging.getLogger("faceres_tf.evaluate")

ALL_METRICS = ("psnr", "ssim", "lpips", "fid", "ipr")
# Paper's table layout (Tables 6-8): name in results -> column header.
TABLE_COLUMNS = (("psnr", "PSNR↑"), ("ssim", "SSIM↑"), ("lpips", "LPIPS↓"), ("fid", "FID↓"),
                 ("iprecision", "iPrecision↑"), ("irecall", "iRecall↑"))


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
    from faceres_tf.metrics import psnr_ssim

    metrics = [m.strip().lower() for m in metrics if m.strip()]
    unknown = sorted(set(metrics) - set(ALL_METRICS))
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; choose from {list(ALL_METRICS)}.")
    report: dict = {"restored_dir": str(restored_dir), "gt_dir": str(gt_dir),
                    "requested": metrics, "metrics": {}, "errors": {}, "skipped": [],
                    "resized": [], "per_image": []}
    names, restored, truth = load_pairs(restored_dir, gt_dir, report)
    report["n_pairs"] = len(names)
    if not names:
        report["errors"]["all"] = (f"no image pairs to score: {restored_dir} and {gt_dir} share no "
                                   "readable files with the same name stem.")
        return report
    per = [{"name": n} for n in names]
    report["per_image"] = per

    def attempt(metric, fn):
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - record and go on with the other metrics
            report["errors"][metric] = f"{type(e).__name__}: {e}"
            logger.warning("%s failed (reason below and in the report)", metric)

    def do_pixel(name, fn):
        vals = [fn(r, g) for r, g in zip(restored, truth)]
        for row, v in zip(per, vals):
            row[name] = v
        finite = [v for v in vals if math.isfinite(v)]
        report["metrics"][name] = float(np.mean(finite)) if finite else float("inf")
        if len(finite) < len(vals):
            report.setdefault("notes", []).append(
                f"{name}: {len(vals) - len(finite)} identical pair(s) (inf) left out of the mean")

    if "psnr" in metrics:
        attempt("psnr", lambda: do_pixel("psnr", psnr_ssim.psnr))
    if "ssim" in metrics:
        attempt("ssim", lambda: do_pixel("ssim", psnr_ssim.ssim))
    if "lpips" in metrics:
        def lpips():
            from faceres_tf.metrics.lpips import LPIPS

            model = LPIPS(lpips_weights)
            do_pixel("lpips", lambda r, g: float(model.distance_uint8(r, g)[0]))
        attempt("lpips", lpips)
    if "fid" in metrics:
        def fid():
            from faceres_tf.metrics import fid as fidm

            net = fidm.InceptionFeatures(inception_weights)
            f_rest = net(restored)
            if gt_fid_stats and Path(gt_fid_stats).is_file():
                mu, sigma = fidm.load_statistics(gt_fid_stats)
            else:
                mu, sigma = fidm.feature_statistics(net(truth))
                if gt_fid_stats:
                    fidm.save_statistics(gt_fid_stats, mu, sigma, network="keras_inception_v3")
            report["metrics"]["fid"] = fidm.frechet_distance(
                *fidm.feature_statistics(f_rest), mu, sigma)
            if len(names) < 2048:
                report.setdefault("notes", []).append(
                    f"fid: only {len(names)} images (< 2048 feature dims); FID is biased upward "
                    "on small sets, compare only runs of equal size.")
        attempt("fid", fid)
    if "ipr" in metrics:
        def ipr():
            from faceres_tf.metrics.identity import get_embedder
            from faceres_tf.metrics.precision_recall import identity_precision_recall

            emb = embedder if embedder is not None else get_embedder(id_net, weights=id_weights)
            report["id_net"] = emb.name
            e_rest = emb.embed(restored, progress=progress)
            e_gt = emb.embed(truth, progress=progress)
            ok = np.isfinite(e_rest).all(axis=1) & np.isfinite(e_gt).all(axis=1)
            if not ok.all():
                report.setdefault("notes", []).append(
                    f"ipr: no face found in {int((~ok).sum())} pair(s), left out: "
                    + ", ".join(n for n, good in zip(names, ok) if not good)[:500])
            ids = np.asarray(names)
            if ids_csv:
                table = read_ids_csv(Path(ids_csv))
                missing = [n for n in names if n not in table]
                if missing:
                    report.setdefault("notes", []).append(
                        f"ipr: {len(missing)} name(s) not in {ids_csv}; their stem is their "
                        f"identity, e.g. {missing[:5]}")
                ids = np.asarray([table.get(n, n) for n in names])
            res = identity_precision_recall(e_gt[ok], e_rest[ok], k=k, real_ids=ids[ok],
                                            restored_ids=ids[ok])
            report["metrics"].update(res)
            report["ipr_k"] = k
        attempt("ipr", ipr)
    return report


def format_table(report: dict) -> str:
    """The paper's layout: PSNR↑ SSIM↑ LPIPS↓ FID↓ iPrecision↑ iRecall↑ (then P / R)."""
    cols = list(TABLE_COLUMNS) + [("precision", "Precision↑"), ("recall", "Recall↑")]
    m = report.get("metrics", {})
    vals = ["-" if m.get(key) is None else f"{m[key]:.4f}" for key, _ in cols]
    infinite = [h for (key, h), v in zip(cols, vals) if v in ("inf", "-inf", "nan")]
    widths = [max(len(h), len(v)) for (_, h), v in zip(cols, vals)]
    head = " | ".join(h.ljust(w) for (_, h), w in zip(cols, widths))
    row = " | ".join(v.rjust(w) for v, w in zip(vals, widths))
    rule = "|".join("-" * (w + 2) for w in widths)
    table = f"| {head} |\n|{rule}|\n| {row} |"
    if infinite:
        table += (f"\n{', '.join(infinite)}: not finite (inf = identical images); written as null "
                  "in the JSON file")
    return table


def output_paths(out: Path) -> list[Path]:
    """The JSON, summary CSV and per-image CSV that ``write_outputs`` writes."""
    return [out, out.with_suffix(".csv"), out.with_name(out.stem + "_per_image.csv")]


def _json_safe(value, path: str, non_finite: dict):
    """``value`` with every non-finite float replaced by None (recorded in
    ``non_finite`` under its dotted path)."""
    if isinstance(value, dict):
        return {k: _json_safe(v, f"{path}.{k}" if path else str(k), non_finite)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v, f"{path}[{i}]", non_finite) for i, v in enumerate(value)]
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if not math.isfinite(v):
            non_finite[path] = "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
            return None
        return v
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.ndarray):
        return _json_safe(value.tolist(), path, non_finite)
    return value


def json_safe_report(report: dict) -> dict:
    """The report as strict JSON data: non-finite numbers become ``null`` and
    are listed under ``non_finite`` (e.g. ``{"metrics.psnr": "inf"}``)."""
    non_finite: dict = {}
    out = _json_safe(report, "", non_finite)
    if non_finite:
        out["non_finite"] = non_finite
        out.setdefault("notes", []).append(
            "non-finite values (e.g. the PSNR of identical images, inf) are written as null; "
            "see non_finite")
    return out


def write_outputs(report: dict, out: Path) -> list[Path]:
    """Writes JSON, a one-row summary CSV and a per-image CSV next to it."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(json_safe_report(report), f, indent=2, allow_nan=False)
    summary = out.with_suffix(".csv")
    keys = [k for k, _ in TABLE_COLUMNS] + ["precision", "recall"]
    with open(summary, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["n_pairs"] + keys + ["errors"])
        w.writerow([report.get("n_pairs", 0)]
                   + [report["metrics"].get(k, "") for k in keys]
                   + ["; ".join(f"{k}: {v}" for k, v in report["errors"].items())])
    per_image = out.with_name(out.stem + "_per_image.csv")
    rows = report.get("per_image", [])
    fields = ["name"] + [c for c in ("psnr", "ssim", "lpips") if any(c in r for r in rows)]
    with open(per_image, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return [out, summary, per_image]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="faceres-evaluate", description=__doc__.split("\n\n")[0])
    p.add_argument("--restored", required=True, help="folder of restored images")
    p.add_argument("--gt", required=True, help="folder of ground-truth images (same stems)")
    p.add_argument("--metrics", default="psnr,ssim,lpips,fid,ipr",
                   help=f"comma-separated subset of {','.join(ALL_METRICS)}")
    p.add_argument("--id_net", default="dlib", choices=("dlib", "facenet", "inception_v3"),
                   help="identity network for iPrecision/iRecall")
    p.add_argument("--id_weights", default=None, help="weights for --id_net facenet/inception_v3")
    p.add_argument("--k", type=int, default=3, help="neighbourhood size for (i)Precision/(i)Recall")
    p.add_argument("--ids", default=None, help="CSV 'name,id' when a person has several photos")
    p.add_argument("--lpips_weights", default=None, help=".npz from convert_lpips_weights")
    p.add_argument("--inception_weights", default=None, help="Keras InceptionV3 notop .h5")
    p.add_argument("--gt_fid_stats", default=None,
                   help=".npz cache of the ground truth's FID statistics (read if present, else written)")
    p.add_argument("--out", default="results.json", help="JSON output (CSV files written next to it)")
    p.add_argument("--no_progress", action="store_true", help="hide progress bars")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
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
    for p in output_paths(Path(args.out)):
        if p.resolve() in inputs:
            return str(p)
    return ""


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    warnings.simplefilter("default")
    clash = _outputs_that_are_inputs(args)
    if clash:
        print(f"error: --out would write {clash}, which is one of the inputs; choose another "
              "--out.", file=sys.stderr)
        return 2
    existing = [str(p) for p in output_paths(Path(args.out)) if p.exists()]
    if existing and not args.overwrite:
        print(f"error: {', '.join(existing)} already exist(s); choose another --out or pass "
              "--overwrite.", file=sys.stderr)
        return 2
    try:
        report = evaluate_folders(
            args.restored, args.gt, metrics=args.metrics.split(","), id_net=args.id_net, k=args.k,
            ids_csv=args.ids, lpips_weights=args.lpips_weights,
            inception_weights=args.inception_weights, id_weights=args.id_weights,
            gt_fid_stats=args.gt_fid_stats, progress=not args.no_progress)
    except (UserError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    files = write_outputs(report, Path(args.out))
    print(f"{report['n_pairs']} pairs: {args.restored} vs {args.gt}")
    print(format_table(report))
    for metric, reason in report["errors"].items():
        print(f"FAILED {metric}: {reason}", file=sys.stderr)
    for note in report.get("notes", []):
        print(f"note: {note}")
    print("wrote " + ", ".join(str(f) for f in files))
    if report["n_pairs"] == 0:
        return 2
    return 1 if report["errors"] else 0


def run() -> None:
    """Console entry point (``faceres-evaluate``)."""
    sys.exit(main())


if __name__ == "__main__":
    run()
