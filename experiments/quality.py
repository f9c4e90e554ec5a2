"""The pieces of ``experiments.model_quality``: restore, score and report one
evaluation set (a chain at a resolution), and real low-quality faces.

A model of resolution R0 evaluated at R != R0 gets each degraded input
resized to R0 (cv2 area when shrinking, bicubic when enlarging), restores it
at R0, and its output is resized back to R the same way (what
``faceres-restore`` does with a face of another size); it is scored at R
against the R px ground truth.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import cv2
import numpy as np

from experiments import reports
from experiments.evalset import ZERO_NOISE, draw_seeds
from faceres_tf.image_io import float_to_uint8, list_images, read_image, uint8_to_float
from faceres_tf.metrics.detail import detail_ratio, laplacian_energy
from faceres_tf.metrics.no_reference import BrisqueUnavailable, brisque_scores
from faceres_tf.metrics.scorer import MetricUnavailable, load_network, score_set

FIELDS = ("psnr", "ssim", "id_dist", "iprecision", "irecall", "detail")
HEADERS = ("PSNR↑", "SSIM↑", "identity dist.↓", "iPrecision↑", "iRecall↑", "detail (GT = 1)")


class Progress:
    """``[mm:ss] message`` lines on stderr (silent with ``quiet``)."""

    def __init__(self, quiet: bool = False):
        self.quiet, self.t0 = quiet, time.monotonic()

    def __call__(self, message: str) -> None:
        if not self.quiet:
            s = int(time.monotonic() - self.t0)
            print(f"[{s // 60:02d}:{s % 60:02d}] {message}", file=sys.stderr, flush=True)


class ProgressEmbedder:
    """An identity embedder that reports every ``chunk`` images (the slow part)."""

    def __init__(self, inner, progress, chunk: int = 100):
        self.inner, self.progress, self.chunk = inner, progress, chunk
        self.name, self.dim = inner.name, inner.dim

    def embed(self, images, progress: bool = False) -> np.ndarray:
        del progress
        out = []
        for i in range(0, len(images), self.chunk):
            if len(images) > self.chunk:
                self.progress(f"  identity features ({self.name}) {i}/{len(images)}")
            out.append(self.inner.embed(images[i:i + self.chunk]))
        return np.concatenate(out) if out else np.zeros((0, self.dim))


def identity_embedder(opts, progress):
    """The embedder of ``opts.id_net`` wrapped in :class:`ProgressEmbedder`, or None
    (not requested, or unavailable: the Scorer then records why)."""
    if "ipr" not in opts.metrics or opts.id_net == "none":
        return None
    try:
        return ProgressEmbedder(load_network("ipr", id_net=opts.id_net, id_weights=opts.id_weights),
                                progress)
    except MetricUnavailable:  # the Scorer retries and reports the reason
        return None


def resize_images(x: np.ndarray, size: int) -> np.ndarray:
    """(N, H, W, 3) images (uint8 or float) -> (N, size, size, 3), same dtype."""
    if x.shape[1] == size:
        return x
    interp = cv2.INTER_AREA if x.shape[1] > size else cv2.INTER_CUBIC
    out = np.stack([cv2.resize(im, (size, size), interpolation=interp) for im in x])
    return out.astype(x.dtype) if x.dtype != np.uint8 else out


def run_generator(generator, x: np.ndarray, seeds: np.ndarray, batch_size: int = 16,
                  progress=None, label: str = "") -> np.ndarray:
    """float [-1, 1] (N, R0, R0, 3) -> uint8 restorations, in batches."""
    out, step = [], max(1, len(x) // 4)
    for i in range(0, len(x), batch_size):
        y = generator({"image": x[i:i + batch_size], "noise_seed": seeds[i:i + batch_size]},
                      training=False)
        out.append(float_to_uint8(np.asarray(y)))
        if progress and (i // step) != ((i + batch_size) // step) and i + batch_size < len(x):
            progress(f"  {label}: restored {i + batch_size}/{len(x)}")
    return np.concatenate(out)


def restore_at(generator, evalset, model_resolution: int, draw: int = ZERO_NOISE,
               progress=None, label: str = "") -> np.ndarray:
    """Restores every input of ``evalset`` with the seeds of ``draw``: uint8 (D, N, R, R, 3)
    at the evaluation set's resolution R (via the model's R0, see the module doc)."""
    x = evalset.flat_degraded
    r = x.shape[1]
    x = np.clip(resize_images(x, model_resolution), -1.0, 1.0).astype(np.float32)
    y = run_generator(generator, x, draw_seeds(draw, len(x)), progress=progress, label=label)
    y = resize_images(y, r)
    return y.reshape(evalset.degraded.shape[:2] + y.shape[1:])


def identity_distance(score) -> float | None:
    """Mean L2 distance between each restored face's identity feature and its GT's."""
    if score.features is None:
        return None
    real, restored = score.features["real"], score.features["restored"]  # (N, F), (D, N, F)
    dist = np.linalg.norm(restored - real[None], axis=-1)  # (D, N); NaN where no face
    return float(np.nanmean(dist)) if np.isfinite(dist).any() else None


def summary(scorer, images: np.ndarray) -> dict:
    """The FIELDS of uint8 ``images`` (D, N, R, R, 3) against the scorer's targets."""
    score = scorer.score(images)
    out = {k: score.value(k) for k in ("psnr", "ssim", "iprecision", "irecall")}
    out["id_dist"] = identity_distance(score)
    target = np.broadcast_to(scorer.target[None], images.shape)
    out["detail"] = detail_ratio(images.reshape((-1,) + images.shape[2:]),
                                 target.reshape((-1,) + images.shape[2:]))
    return out


def mean_std(rows: list, key: str) -> tuple:
    vals = [r[key] for r in rows if r.get(key) is not None]
    if not vals:
        return None, None
    return float(np.mean(vals)), (float(np.std(vals, ddof=1)) if len(vals) > 1 else None)


def score_evaluation(generator, model_resolution: int, evalset, scorer, num_noise_seeds: int,
                     progress, label: str) -> tuple:
    """Scores the degraded inputs, the zero-noise restorations and ``num_noise_seeds``
    noise draws: ``(entry, images of draw 0 or zero noise)``."""
    progress(f"{label}: scoring the {len(evalset)} degraded inputs")
    entry = {"input": summary(scorer, float_to_uint8(evalset.degraded))}
    sample = restore_at(generator, evalset, model_resolution, ZERO_NOISE, progress,
                        f"{label}, zero noise")
    progress(f"{label}: scoring the zero-noise restorations")
    entry["zero_noise"] = summary(scorer, sample)
    draws = []
    for s in range(num_noise_seeds):
        images = restore_at(generator, evalset, model_resolution, s, progress,
                            f"{label}, noise draw {s}")
        progress(f"{label}: scoring noise draw {s}")
        draws.append(summary(scorer, images))
        sample = images if s == 0 else sample
    entry["noise"] = {k: mean_std(draws, k) for k in FIELDS}
    entry["draws"] = draws
    entry["ceiling"] = resize_ceiling(scorer.target, model_resolution)
    progress(f"{label}: done: " + _short(entry))
    return entry, sample


def resize_ceiling(target: np.ndarray, model_resolution: int) -> dict | None:
    """PSNR, SSIM and detail of the uint8 ground truth (N, R, R, 3) resized to the
    model's resolution and back: what a perfect restoration at that resolution
    scores at R (None when R is the model's resolution)."""
    if target.shape[1] == model_resolution:
        return None
    back = resize_images(resize_images(target, model_resolution), target.shape[1])
    return {**score_set(back, target, ("psnr", "ssim")).metrics, "detail": detail_ratio(back, target)}


def _short(entry: dict) -> str:
    best = entry["draws"][0] if entry["draws"] else entry["zero_noise"]
    parts = []
    for k in ("psnr", "id_dist", "detail"):
        a, b = entry["input"].get(k), best.get(k)
        if a is not None and b is not None:
            parts.append(f"{k} {a:.4g} -> {b:.4g}")
    return ", ".join(parts)


# ----------------------------------------------------------------------------- real LQ faces
def real_lq(generator, resolution: int, folder, grid_path, grid_count: int) -> dict | None:
    """Restores every face of ``folder`` (resized to the model's resolution);
    writes the first ``grid_count`` as a grid (input | restored) and returns
    BRISQUE and Laplacian energy means of input and restored (None when the
    folder holds no images)."""
    paths = list_images(folder).images if Path(folder).is_dir() else []
    if not paths:
        return None
    faces = resize_images_list([read_image(p).rgb for p in paths], resolution)
    restored = run_generator(generator, uint8_to_float(faces), np.zeros(len(faces), np.int32))
    reports.save_labeled_grid(grid_path, [[f, o] for f, o in zip(faces[:grid_count],
                                                                 restored[:grid_count])],
                              ["input", "restored"])
    return {"folder": str(folder), "faces": len(faces), **nr_scores(faces, restored)}


def resize_images_list(images: list, size: int) -> np.ndarray:
    return np.concatenate([resize_images(im[None], size) for im in images])


def nr_scores(faces: np.ndarray, restored: np.ndarray) -> dict:
    """No-reference means of input and restored: BRISQUE (None, with the
    reason, if the package is missing) and Laplacian energy."""
    out = {"laplacian_energy_input": float(laplacian_energy(faces).mean()),
           "laplacian_energy_restored": float(laplacian_energy(restored).mean())}
    try:
        out["brisque_input"] = float(brisque_scores(faces).mean())
        out["brisque_restored"] = float(brisque_scores(restored).mean())
    except BrisqueUnavailable as e:
        out["brisque_input"] = out["brisque_restored"] = None
        out["brisque_error"] = str(e)
    return out


# ----------------------------------------------------------------------------- report
def markdown(res: dict, opts) -> list:
    """The lines of quality.md."""
    lines = [f"# Restoration quality: {res['model']}", "",
             f"- evaluation: {res['faces']} faces of `{opts.eval_dir}` x {res['degradations']} "
             "fixed degradations per chain: `train` = the model's own training chain "
             "(faceres_tf.data), `cv2` = the independent evaluation chain "
             "(experiments/eval_chains.py, docs/method.md §7.1); same ranges",
             f"- identity: {opts.id_net}, k = {opts.k}; iPrecision/iRecall per degradation set "
             "(N vs N), then the mean; detail = mean of var(Laplacian) / the ground truth's",
             f"- command: `{opts.command}`", ""]
    for e in res["evaluations"]:
        lines.append(f"- {e['chain']} chain at {e['resolution']} px: {e['ranges']}"
                     + (f"; restored at {e['restored_at']} px and resized"
                        if e["restored_at"] != e["resolution"] else ""))
    rows = [row for e in res["evaluations"] for row in _rows(e)]
    lines += ["", reports.markdown_table(["res.", "chain", "", *HEADERS], rows), ""]
    if res.get("real_lq"):
        lines += real_lq_lines(res["real_lq"])
    return lines


def _rows(e: dict) -> list:
    def cells(values):
        return [reports.fmt(values.get(k), 4) for k in FIELDS]

    head = [str(e["resolution"]), e["chain"]]
    noise, rows = e["noise"], [head + ["degraded input"] + cells(e["input"])]
    if e["draws"]:
        rows.append(head + [f"restored, mean ± std over {len(e['draws'])} noise draws"]
                    + [reports.fmt_pm(*noise[k], digits=4) if noise[k][0] is not None else "n/a"
                       for k in FIELDS])
    rows.append(head + ["restored, zero noise"] + cells(e["zero_noise"]))
    best = {k: noise[k][0] for k in FIELDS} if e["draws"] else e["zero_noise"]
    gain = {k: best[k] - e["input"][k] if best.get(k) is not None
            and e["input"].get(k) is not None else None for k in FIELDS}
    label = "with noise" if e["draws"] else "zero noise"
    rows.append(head + [f"gain (restored {label} − input)"] + cells(gain))
    if e.get("ceiling"):
        rows.append(head + [f"ceiling: ground truth resized to {e['restored_at']} px and back"]
                    + cells(e["ceiling"]))
    return rows


def real_lq_lines(items: list) -> list:
    rows = [[f"`{i['folder']}`", str(i["faces"]), reports.fmt(i.get("brisque_input"), 2),
             reports.fmt(i.get("brisque_restored"), 2),
             reports.fmt(i["laplacian_energy_input"], 1),
             reports.fmt(i["laplacian_energy_restored"], 1)] for i in items]
    return ["## Real low-quality faces (no ground truth)", "",
            "Each face resized to the model's resolution (cv2 area / bicubic), restored at zero "
            "noise. BRISQUE: no-reference quality (`brisque` 0.2.0, its bundled LIVE-trained "
            "SVR; lower is better; faceres_tf/metrics/no_reference.py). Laplacian energy: "
            "var(Laplacian of the luma), higher = more high-frequency content (detail, "
            "but also noise).", "",
            reports.markdown_table(["folder", "faces", "BRISQUE input↓", "BRISQUE restored↓",
                                    "Lap. energy input", "Lap. energy restored"], rows), ""]
