"""Side-by-side grids of the two paste-back masks on whole photos.

Usage::

    python -m experiments.paste_back_grid --input=../shared/data/gfpgan_whole_imgs \\
        --workdir=experiments/results/paste_back [--bundle=rdfr_cpu128] [--faces=2]

writes (or rewrites: a derived result) ``WORKDIR/<input folder name>.jpg``.

One row per face (largest faces of each photo first, at most ``--faces``
per photo): the photo around the face | restored, pasted through the square
feathered mask | restored, pasted through the 68-landmark mask | that mask
(white = restored pixels). Same restoration (seed 0) in both columns; only
the mask differs. Rows are ``--row_height`` px tall; the grid is a JPEG.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
from absl import flags

from experiments import cli, options
from faceres_tf import image_io
from faceres_tf.face import alignment, paste_back
from faceres_tf.face.detection import FaceDetector
from faceres_tf.face.pipeline import FacePipeline
from faceres_tf.image_io import read_image


def _region(det, shape, margin: float = 0.35):
    x0, y0, x1, y1 = det.box
    cx, cy, side = (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0) * (1 + 2 * margin)
    h, w = shape[:2]
    a, b = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
    return a, b, int(min(w, cx + side / 2)), int(min(h, cy + side / 2))


def _mask_in_photo(face, shape):
    mask = face.mask if face.mask is not None else paste_back.feather_mask(face.crop.shape[0])
    inv = alignment.invert(face.matrix)
    m = alignment.warp_affine(mask, inv, (shape[1], shape[0]), cv2.INTER_LINEAR, cv2.BORDER_CONSTANT, 0)
    return np.repeat((np.clip(m, 0, 1) * 255).astype(np.uint8)[..., None], 3, axis=-1)


def rows_for_photo(path: Path, pipeline, max_faces: int, row_height: int) -> list:
    job = pipeline.prepare(read_image(path))
    pipeline.restore([job])
    landmark = pipeline.compose(job)
    masks = [f.mask for f in job.faces]
    for f in job.faces:
        f.mask = None
    square = pipeline.compose(job)
    rows = []
    for f, m in list(zip(job.faces, masks))[:max_faces]:
        f.mask = m
        x0, y0, x1, y1 = _region(f.detection, job.image.rgb.shape)
        tiles = [img[y0:y1, x0:x1] for img in (job.image.rgb, square, landmark,
                                                _mask_in_photo(f, job.image.rgb.shape))]
        scale = row_height / tiles[0].shape[0]
        size = (max(1, round(tiles[0].shape[1] * scale)), row_height)
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
        rows.append(np.concatenate([cv2.resize(t, size, interpolation=interp) for t in tiles], axis=1))
    return rows


def stack_rows(rows: list) -> np.ndarray:
    width = max(r.shape[1] for r in rows)
    padded = [np.pad(r, ((0, 2), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    return np.concatenate(padded, axis=0)


def make_grid(input_dir: str, out: Path, model: str | None, faces: int, row_height: int) -> int:
    from faceres_tf.face.generator_runner import GeneratorRunner  # loads TensorFlow: only once the flags are parsed

    photos, _ = image_io.list_images(input_dir)
    pipeline = FacePipeline(GeneratorRunner.from_pretrained(model), FaceDetector(), seeds=(0,))
    rows = []
    for path in photos:
        rows += rows_for_photo(path, pipeline, faces, row_height)
        print(f"{path.name}: {len(rows)} rows so far", file=sys.stderr, flush=True)
    image_io.write_image(out, stack_rows(rows), overwrite=True, jpeg_quality=85)
    print(f"{out}: {len(rows)} faces, {out.stat().st_size / 1024:.0f} KiB")
    return len(rows)


def main(argv):
    f = flags.FLAGS

    def body():
        if not f.input or not f.workdir:
            raise cli.UserError("--input and --workdir are required")
        if not image_io.list_images(f.input).images:
            raise cli.UserError(f"--input {f.input}: no photos there")
        if f.faces < 1 or f.row_height < 16:
            raise cli.UserError("--faces must be >= 1 and --row_height >= 16")
        make_grid(f.input, Path(f.workdir) / f"{Path(f.input).resolve().name}.jpg", f.bundle, f.faces,
                  f.row_height)

    return cli.run_experiment(body)


def _define_flags():
    options.define_workdir_flag()
    flags.DEFINE_string("input", None, "Required. Folder of whole photos.", short_name="i")
    flags.DEFINE_string("bundle", None, "Bundled model (default: faceres_tf.pretrained.DEFAULT_MODEL).")
    flags.DEFINE_integer("faces", 2, "Faces per photo (largest first).")
    flags.DEFINE_integer("row_height", 160, "Height of one row in pixels.")
    flags.adopt_module_key_flags(options)


if __name__ == "__main__":
    from experiments import cli

    _define_flags()
    cli.run_driver(main)
