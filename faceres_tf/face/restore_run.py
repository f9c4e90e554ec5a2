"""One ``faceres-restore`` run over photos: batching the faces of several
photos into network calls, writing each photo's outputs, counting.

A failing photo is counted and named, never fatal; a full disk stops the run
(:class:`StopRun`): every later write would fail too, and the files written so
far are complete.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from faceres_tf import image_io
from faceres_tf.face.pipeline import comparison_grid
from faceres_tf.image_io import DiskFullError, ImageReadError

# Photos held in memory at once waiting for their faces to be restored.
MAX_PENDING_PHOTOS = 8
MAX_PENDING_PIXELS = 60_000_000


class StopRun(Exception):
    """The run cannot go on (the disk is full); the message says why."""


@dataclasses.dataclass
class RunStats:
    """Counts of one run; :meth:`summary` is its last line."""

    ok: int = 0
    failed: int = 0
    faces: int = 0
    skipped: int = 0
    started: float = dataclasses.field(default_factory=time.time)

    def summary(self, kept: int, out_root: Path) -> str:
        text = (f"{self.ok} succeeded, {self.failed} failed, {self.faces} faces restored, "
                f"{self.skipped} skipped faces")
        if kept:
            text += f", {kept} existing files kept"
        return f"{text} ({time.time() - self.started:.1f} s; outputs in {out_root})"


class PhotoBatcher:
    """Holds prepared photos until their faces fill a network batch (or the
    photo / pixel limits of memory are reached)."""

    def __init__(self, batch_size: int, samples: int):
        self.batch_size, self.samples = batch_size, samples
        self.pending: list = []  # (path, PhotoJob)

    def add(self, path: Path, job) -> bool:
        """Adds a photo; True when the pending photos should be restored now."""
        self.pending.append((path, job))
        n_faces = sum(len(j.faces) for _, j in self.pending) * self.samples
        n_pixels = sum(j.image.rgb.size // 3 for _, j in self.pending)
        return (n_faces >= self.batch_size or len(self.pending) >= MAX_PENDING_PHOTOS
                or n_pixels >= MAX_PENDING_PIXELS)

    def take(self) -> list:
        batch, self.pending = self.pending, []
        return batch


def photo_notes(loaded, job, aligned: bool) -> list:
    notes = list(loaded.notes) + job.notes
    if not aligned and not job.faces:
        notes.append("no face restored; the photo is written unchanged"
                     + (f" (upscaled x{job.upscale:g})" if job.upscale != 1 else ""))
    for det, reason in job.skipped:
        x0, y0, x1, y1 = det.box
        notes.append(f"face at ({x0:.0f},{y0:.0f})-({x1:.0f},{y1:.0f}) skipped: {reason}")
    return notes


class Restorer:
    """The per-photo steps; a failing photo is counted and named, never fatal."""

    def __init__(self, pipeline, outputs, names: dict, stats: RunStats, say):
        self.pipeline, self.outputs, self.names, self.stats, self.say = pipeline, outputs, names, stats, say
        seeds = pipeline.seeds
        self.suffixes = [f"_seed{s}" for s in seeds] if len(seeds) > 1 else [""]

    def prepare(self, path: Path):
        """Reads and detects / aligns one photo; None when it failed."""
        try:
            loaded = image_io.read_image(path)
        except ImageReadError as e:
            return self.failed(str(e))
        try:
            job = self.pipeline.prepare(loaded)
        except Exception as e:  # noqa: BLE001 - one bad photo never stops the batch
            return self.failed(f"{path}: face detection/alignment failed: {type(e).__name__}: {e}")
        notes = photo_notes(loaded, job, self.pipeline.aligned)
        if notes:
            self.say(f"{path}: " + "; ".join(notes))
        return job

    def restore(self, batch: list) -> None:
        """Runs the network on the faces of ``batch`` and writes each photo's
        outputs. Raises :class:`StopRun` when the disk is full."""
        if not batch:
            return
        try:
            self.pipeline.restore([job for _, job in batch])
        except Exception as e:  # noqa: BLE001 - a network error fails these photos only
            for path, _ in batch:
                self.failed(f"{path}: restoration failed: {type(e).__name__}: {e}")
            return
        for path, job in batch:
            try:
                self.write(self.names[path], job, path)
            except DiskFullError as e:
                self.failed(f"{path}: {e}")
                raise StopRun(f"{e}; stopped (every output written before is complete)") from e
            except Exception as e:  # noqa: BLE001
                self.failed(f"{path}: could not write outputs: {type(e).__name__}: {e}")
                continue
            self.stats.ok += 1
            self.stats.faces += len(job.faces)
            self.stats.skipped += len(job.skipped)

    def write(self, name: str, job, source: Path) -> None:
        aligned, suffix = self.pipeline.aligned, self.outputs.suffix

        def write(sub, fname, rgb):
            self.outputs.write(sub, fname, rgb, source)

        for i, face in enumerate(job.faces):
            fname = name if aligned else f"{name}_{i:02d}"
            if not aligned:
                write("cropped_faces", fname, face.crop)
            for seed_suffix, restored in zip(self.suffixes, face.restored):
                write("restored_faces", fname + seed_suffix + suffix, restored)
            write("cmp", fname, comparison_grid(face.crop, face.restored))
        if aligned:
            return
        canvas = self.pipeline.base_canvas(job)
        if not job.faces:
            write("restored_imgs", name + suffix, canvas)
            return
        for k, seed_suffix in enumerate(self.suffixes):
            last = k == len(self.suffixes) - 1
            write("restored_imgs", name + seed_suffix + suffix,
                  self.pipeline.compose(job, k, canvas, in_place=last))

    def failed(self, message: str) -> None:
        self.say(f"FAILED {message}")
        self.stats.failed += 1
