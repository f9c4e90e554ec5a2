"""The fixed evaluation set every variant is restored and scored on.

N ground-truth faces (the first ``--num_eval_faces`` readable images of
``--eval_dir``, sorted), each degraded with D = ``--num_eval_degradations``
fixed seeds (:data:`EVAL_SEED` + d) by the model's data config: identical
inputs for every variant and every rerun. Input (d, i) is named
``<stem_i>__d<d>``; the ground truth is stored once per face, never
duplicated (docs/method.md §7).

Noise draws: draw s gives input j of the flat (D * N) list the noise seed
``s * D * N + j`` (:func:`draw_seeds`): independent noise for every input and
draw, the same for every variant; noise seed -1 means zero noise.
"""

from __future__ import annotations

import csv
import dataclasses
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from experiments.cli import UserError
from faceres_tf.data.faces import DataError, list_faces, load_face, scan_images
from faceres_tf.image_io import float_to_uint8, write_image

EVAL_SEED = 20220601  # base seed of the evaluation degradations [ours]
ZERO_NOISE = -1


@dataclasses.dataclass
class EvalSet:
    """float32 arrays in [-1, 1]: ``degraded`` (D, N, R, R, 3), ``target`` (N, R, R, 3)."""

    stems: list
    degraded: np.ndarray
    target: np.ndarray
    description: str

    @property
    def num_faces(self) -> int:
        return len(self.stems)

    @property
    def num_degradations(self) -> int:
        return int(self.degraded.shape[0])

    @property
    def names(self) -> list:
        """Flat (D * N) input names ``<stem>__d<d>``, degradation-major."""
        return [f"{s}__d{d}" for d in range(self.num_degradations) for s in self.stems]

    @property
    def flat_degraded(self) -> np.ndarray:
        return self.degraded.reshape((-1,) + self.degraded.shape[2:])  # (D*N, R, R, 3)

    def __len__(self) -> int:
        return self.num_faces * self.num_degradations


def eval_faces(eval_dir, num_faces: int | None = None) -> list:
    """Sorted readable image paths of ``eval_dir`` (the first ``num_faces``).

    Raises :class:`UserError` when the folder is missing or holds no images.
    """
    if not Path(eval_dir).is_dir():
        raise UserError(f"--eval_dir {eval_dir} is not a folder of ground-truth faces.")
    try:
        paths = scan_images(list_faces(eval_dir), folder=eval_dir).valid
    except DataError as e:
        raise UserError(e) from None
    if not paths:
        raise UserError(f"--eval_dir {eval_dir} holds no readable images.")
    return paths[:num_faces] if num_faces else paths


def build_eval_set(cfg, eval_dir, num_degradations: int = 3, num_faces: int | None = None,
                   lq_dir=None) -> EvalSet:
    """The same degraded inputs for every variant (depends only on the data config).

    With ``lq_dir`` its images (paired with ``eval_dir`` by file stem, resized
    to R) are the inputs instead, and D = 1.
    """
    r = int(cfg.model.resolution)
    gt_paths = eval_faces(eval_dir, num_faces)
    if lq_dir is not None:
        return _given_inputs(gt_paths, eval_dir, lq_dir, r)
    folder, tmp = Path(eval_dir), None
    if num_faces:  # make_dataset reads a folder: link the chosen faces into a temp folder
        tmp = Path(tempfile.mkdtemp(prefix="faceres_eval_"))
        folder = _link_subset(gt_paths, tmp)
    try:
        return _degrade_folder(cfg, folder, eval_dir, gt_paths, num_degradations, r)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _given_inputs(gt_paths, eval_dir, lq_dir, r) -> EvalSet:
    if not Path(lq_dir).is_dir():
        raise UserError(f"--lq_dir {lq_dir} is not a folder of degraded inputs.")
    lq = {Path(p).stem: p for p in scan_images(list_faces(lq_dir), folder=lq_dir).valid}
    pairs = [(Path(p).stem, p, lq[Path(p).stem]) for p in gt_paths if Path(p).stem in lq]
    if not pairs:
        raise UserError(f"{lq_dir} and {eval_dir} share no file stems; name each degraded "
                        "input like its ground truth.")
    deg = np.stack([load_face(q, r) for _, _, q in pairs]).astype(np.float32) / 127.5 - 1
    tgt = np.stack([load_face(p, r) for _, p, _ in pairs]).astype(np.float32) / 127.5 - 1
    return EvalSet([s for s, _, _ in pairs], deg[None], tgt,
                   f"{len(pairs)} given degraded inputs from {lq_dir} at {r} px")


def _degrade_folder(cfg, folder, eval_dir, gt_paths, num_degradations, r) -> EvalSet:
    from faceres_tf.data import make_dataset  # loads TensorFlow: only once the flags are parsed

    stems = [Path(p).stem for p in gt_paths]
    degraded, target = [], None
    for d in range(int(num_degradations)):
        chunks = list(make_dataset(cfg, split="val", batch_size=64, seed=EVAL_SEED + d,
                                   repeat=False, folder=folder))
        deg = np.concatenate([c[0].numpy() for c in chunks])
        tgt = np.concatenate([c[1].numpy() for c in chunks])
        if len(deg) != len(stems):
            raise RuntimeError(f"{eval_dir}: expected {len(stems)} faces, the pipeline read "
                               f"{len(deg)}")
        if target is not None and not np.array_equal(tgt, target):
            raise RuntimeError("the validation pipeline changed a ground truth between seeds")
        degraded.append(deg)
        target = tgt
    desc = (f"{len(stems)} faces of {eval_dir} x {num_degradations} fixed degradations "
            f"({cfg.data.degradation}, seeds {EVAL_SEED}+d) = {len(stems) * num_degradations} "
            f"inputs at {r} px")
    return EvalSet(stems, np.stack(degraded), target, desc)


def _link_subset(paths, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for p in paths:
        link = folder / Path(p).name
        if not link.exists():
            try:
                os.symlink(os.path.abspath(p), link)
            except OSError:
                shutil.copy(p, link)
    return folder


# ----------------------------------------------------------------------------- restoration
def draw_seeds(draw: int, num_inputs: int) -> np.ndarray:
    """Per-input noise seeds of draw ``draw`` (-1: zero noise), int32 (num_inputs,)."""
    if draw == ZERO_NOISE:
        return np.full(num_inputs, ZERO_NOISE, np.int32)
    return (draw * num_inputs + np.arange(num_inputs)).astype(np.int32)


def restore(generator, evalset: EvalSet, draw: int = ZERO_NOISE, batch_size: int = 16):
    """Restores every input with the seeds of ``draw``: uint8 (D, N, R, R, 3)."""
    x = evalset.flat_degraded
    seeds = draw_seeds(draw, len(x))
    out = []
    for i in range(0, len(x), batch_size):
        y = generator({"image": x[i:i + batch_size], "noise_seed": seeds[i:i + batch_size]},
                      training=False)
        out.append(float_to_uint8(np.asarray(y)))
    return np.concatenate(out).reshape(evalset.degraded.shape[:2] + out[0].shape[1:])


# ----------------------------------------------------------------------------- files
def write_pngs(folder, names, images) -> Path:
    """Writes uint8 ``images`` (or [-1, 1] floats) as ``folder/<name>.png``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arr = np.asarray(images)
    arr = arr if arr.dtype == np.uint8 else float_to_uint8(arr)
    for n, im in zip(names, arr.reshape((-1,) + arr.shape[-3:])):
        write_image(folder / f"{n}.png", im, overwrite=True)
    return folder


def write_inputs(out_dir, evalset: EvalSet) -> dict:
    """``out_dir/degraded/<stem>__d<d>.png``, ``out_dir/gt/<stem>.png`` (once per
    face) and ``out_dir/ids.csv`` (``name,id``: each input's person)."""
    out_dir = Path(out_dir)
    ids = out_dir / "ids.csv"
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(ids, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["name", "id"])
        w.writerows((n, n.rsplit("__d", 1)[0]) for n in evalset.names)
    return {"degraded": write_pngs(out_dir / "degraded", evalset.names, evalset.degraded),
            "gt": write_pngs(out_dir / "gt", evalset.stems, evalset.target), "ids": ids}
