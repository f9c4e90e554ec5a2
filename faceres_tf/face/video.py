"""Restore the faces of a video (.mp4, .mov, .avi, .mkv). [ours]

Frames are read with ``cv2.VideoCapture`` and go through the same pipeline as
photos (detect -> align -> restore in batches of the runner's size -> paste
back), several frames per network call. The output is
``OUT/restored_videos/NAME[_SUFFIX].mp4`` (MPEG-4 Part 2, ``mp4v``), at the
input's frame rate and the photo's ``--upscale``, **without audio** (OpenCV
does not carry it; mux it back with e.g. ``ffmpeg -i out.mp4 -i in.mp4 -map
0:v -map 1:a -c copy x.mp4``). It is written to a hidden temporary and
renamed when complete.

Temporal steadiness: every face of every frame uses the same noise seed (the
decoder's noise is a function of the seed only, so it is fixed per track),
colour correction matches each frame's own crop. The note printed per video
reports flicker: the mean absolute frame-to-frame difference (grey levels,
0-255) inside the faces' boxes, of the output and of the input (upscaled the
same way); output flicker near the input's means no added flicker.
"""

from __future__ import annotations

import contextlib
import os
import tempfile

import cv2
import numpy as np

from faceres_tf.image_io import LoadedImage


class FlickerMeter:
    """Mean |frame t - frame t-1| inside face boxes, for input and output."""

    def __init__(self):
        self.prev = None  # (input canvas, output canvas)
        self.sums = np.zeros(2)
        self.count = 0

    def add(self, base: np.ndarray, out: np.ndarray, boxes: list) -> None:
        if self.prev is not None and boxes:
            for x0, y0, x1, y1 in boxes:
                for k, (a, b) in enumerate(zip(self.prev, (base, out))):
                    d = np.abs(a[y0:y1, x0:x1].astype(np.int16) - b[y0:y1, x0:x1].astype(np.int16))
                    self.sums[k] += d.sum() / 3.0
                self.count += (y1 - y0) * (x1 - x0)
        self.prev = (base, out)

    def values(self) -> tuple:
        """(input flicker, output flicker), NaN when no face was in two frames."""
        if not self.count:
            return float("nan"), float("nan")
        return tuple(float(v) / self.count for v in self.sums)


def _boxes(job, shape, factor: float) -> list:
    h, w = shape[:2]
    boxes = []
    for f in job.faces:
        x0, y0, x1, y1 = (v * factor for v in f.detection.box)
        x0, y0 = max(0, int(x0)), max(0, int(y0))
        x1, y1 = min(w, int(np.ceil(x1))), min(h, int(np.ceil(y1)))
        if x1 > x0 and y1 > y0:
            boxes.append((x0, y0, x1, y1))
    return boxes


class _VideoOut:
    """Writes frames to a hidden temporary .mp4, renamed into place by :meth:`commit`."""

    def __init__(self, path, fps: float):
        self.path, self.fps, self.writer = path, fps, None
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, self.tmp = tempfile.mkstemp(prefix=f".{path.stem[:60]}.", suffix=".tmp.mp4", dir=path.parent)
        os.close(fd)

    def write(self, rgb: np.ndarray) -> None:
        if self.writer is None:
            h, w = rgb.shape[:2]
            self.writer = cv2.VideoWriter(self.tmp, cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
            if not self.writer.isOpened():
                raise OSError(f"OpenCV cannot write an mp4v video to {self.path}")
        self.writer.write(np.ascontiguousarray(rgb[..., ::-1]))

    def commit(self) -> None:
        self.writer.release()
        self.writer = None
        os.replace(self.tmp, self.path)

    def discard(self) -> None:
        if self.writer is not None:
            self.writer.release()
        with contextlib.suppress(OSError):
            os.unlink(self.tmp)


def restore_frames(frames, pipeline, sink, meter: FlickerMeter | None = None) -> int:
    """Restores an iterable of uint8 RGB frames in order into ``sink(frame)``,
    a network batch of the runner's size at a time; returns the face count."""
    pending, n_faces = [], 0

    def flush():
        nonlocal n_faces
        pipeline.restore(pending)
        for job in pending:
            base = pipeline.base_canvas(job)
            out = pipeline.compose(job, 0, base)
            if meter is not None:
                meter.add(base, out, _boxes(job, out.shape, out.shape[1] / job.image.rgb.shape[1]))
            sink(out)
            n_faces += len(job.faces)
        pending.clear()

    for rgb in frames:
        pending.append(pipeline.prepare(LoadedImage(rgb)))
        if sum(len(j.faces) for j in pending) >= pipeline.runner.batch_size or len(pending) >= 16:
            flush()
    flush()
    return n_faces


def read_frames(cap):
    """RGB frames of an opened ``cv2.VideoCapture`` until its end."""
    while True:
        ok, bgr = cap.read()
        if not ok:
            return
        yield np.ascontiguousarray(bgr[..., ::-1])


def restore_video_file(path, name: str, pipeline, outputs, stats, say, quiet: bool = True) -> None:
    """One video input -> ``restored_videos/NAME[_SUFFIX].mp4``; failures are
    counted and named like a photo's (``stats``: :class:`RunStats`)."""
    target = outputs.root / "restored_videos" / f"{name}{outputs.suffix}.mp4"
    if target.exists() and not outputs.overwrite:
        outputs.kept += 1
        stats.ok += 1
        say(f"  kept existing {target} (use --overwrite to replace it)")
        return
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        say(f"FAILED {path}: not a readable video (OpenCV could not open it); re-encode it as H.264 .mp4")
        stats.failed += 1
        return
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    out, meter, frames = _VideoOut(target, fps), FlickerMeter(), [0]

    def sink(rgb):
        out.write(rgb)
        frames[0] += 1

    try:
        faces = restore_frames(read_frames(cap), pipeline, sink, meter)
        if not frames[0]:
            raise ValueError("no frame could be decoded")
        out.commit()
    except Exception as e:  # noqa: BLE001 - one bad video never stops the run
        out.discard()
        say(f"FAILED {path}: video restoration failed: {type(e).__name__}: {e}")
        stats.failed += 1
        return
    except BaseException:
        out.discard()
        raise
    finally:
        cap.release()
    outputs.written += 1
    stats.ok += 1
    stats.faces += faces
    flicker_in, flicker_out = meter.values()
    say(f"{path}: {frames[0]} frames at {fps:g} fps, {faces} faces restored (no audio) -> {target}; "
        f"flicker in face boxes (mean |frame t - frame t-1|, 0-255): input {flicker_in:.2f}, "
        f"output {flicker_out:.2f}")
