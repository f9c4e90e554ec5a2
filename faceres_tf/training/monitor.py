"""What one ``Trainer.fit`` call reports, and how it is stopped [ours].

* :class:`TrainingMonitor`: the loss records (``metrics.jsonl``, TensorBoard,
  the log, a tqdm bar with images/s), the check that every logged loss is
  finite, evaluation records and sample grids.
* :func:`stop_on_signal`: SIGINT / SIGTERM ask the loop to stop after the
  current step (it then writes a checkpoint); the previous handlers come back
  when the block ends.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import signal
import time
from pathlib import Path

import tensorflow as tf
from tqdm import tqdm

from faceres_tf.training import run_dir as rd
from faceres_tf.training.evaluation import save_grid

logger = logging.getLogger("faceres_tf.train")


@dataclasses.dataclass
class StopRequest:
    """Set by a signal (or by ``fit(stop_after=...)``): stop after this step."""

    requested: bool = False
    signal: int | None = None


@contextlib.contextmanager
def stop_on_signal():
    """Yields a :class:`StopRequest` that SIGINT and SIGTERM set while the block
    runs. Outside the main thread no handler can be installed and none is."""
    stop = StopRequest()

    def handler(signum, frame):
        stop.requested, stop.signal = True, signum
        logger.warning("Signal %d received: stopping after this step and saving.", signum)

    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[sig] = signal.signal(sig, handler)
        except ValueError:  # not in the main thread
            pass
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def check_finite(record: dict, step: int) -> None:
    """FloatingPointError naming the first NaN / inf loss of ``record``."""
    for k, v in record.items():
        if isinstance(v, float) and not math.isfinite(v) and k != "time":
            raise FloatingPointError(f"{k} became {v} at step {step}; lower the lr.")


class TrainingMonitor:
    """Records of one ``fit`` call in ``run_dir``. Only the chief writes;
    every worker checks that its losses are finite.

    Args:
        run_dir: the run directory.
        chief: whether this worker writes records.
        global_batch: images per step (for images/s).
    """

    def __init__(self, run_dir: Path, chief: bool, global_batch: int):
        self.run_dir = Path(run_dir)
        self.chief = chief
        self.global_batch = global_batch
        self.writer = rd.MetricsWriter(self.run_dir)
        self.tb = tf.summary.create_file_writer(str(self.run_dir / "tensorboard")) if chief else None
        self.bar = None
        self.t0, self.n0 = time.time(), 0

    def open_bar(self, start: int, total: int) -> None:
        """Shows a tqdm progress bar (chief only)."""
        if self.chief:
            self.bar = tqdm(total=total, initial=start, unit="step", dynamic_ncols=True)

    def start_clock(self, step: int) -> None:
        """images/s counts from now and ``step``."""
        self.t0, self.n0 = time.time(), step

    def images_per_sec(self, step: int) -> float:
        return (step - self.n0) * self.global_batch / max(time.time() - self.t0, 1e-9)

    def log_losses(self, step: int, out: dict) -> None:
        """One loss record: checked, then written, summarised and logged; the
        images/s clock restarts."""
        ips = self.images_per_sec(step)
        rec = {k: float(v) for k, v in out.items()}
        rec.update(step=step, images_per_sec=ips, time=time.time())
        check_finite(rec, step)
        if self.chief:
            self.writer.write(rec)
            self._scalars(step, {k: v for k, v in rec.items() if k not in ("step", "time")})
            logger.info("step %d  g %.4f  d %.4f  l1 %.4f  %.1f img/s", step,
                        rec["g_loss"], rec["d_loss"], rec["l1"], ips)
        self.start_clock(step)

    def show_progress(self, step: int, out: dict) -> None:
        if self.bar is not None:
            self.bar.update(step - self.bar.n)
            self.bar.set_postfix(g=f"{float(out['g_loss']):.3f}", d=f"{float(out['d_loss']):.3f}",
                                 img_s=f"{self.images_per_sec(step):.1f}")

    def log_eval(self, step: int, res: dict) -> None:
        """An evaluation record (``{"step", "eval", "time"}``), its summaries and log line."""
        self.writer.write({"step": step, "eval": res, "time": time.time()})
        self._scalars(step, res, prefix="eval/")
        logger.info(
            "eval step %d: PSNR restored %.2f dB vs degraded input %.2f dB; SSIM %.4f vs %.4f",
            step, res["psnr_restored"], res["psnr_degraded"], res["ssim_restored"], res["ssim_degraded"],
        )

    def save_samples(self, step: int, degraded, restored, target) -> None:
        """``samples/step_<step>.png`` and ``samples/latest.png`` (degraded |
        restored | target), and the grid in TensorBoard."""
        grid = save_grid(self.run_dir / "samples" / f"step_{step:07d}.png", degraded, restored, target)
        save_grid(self.run_dir / "samples" / "latest.png", degraded, restored, target)
        with self.tb.as_default(step=step):
            tf.summary.image("degraded|restored|target", grid[None], step=step)

    def _scalars(self, step: int, values: dict, prefix: str = "") -> None:
        with self.tb.as_default(step=step):
            for k, v in values.items():
                tf.summary.scalar(prefix + k, v)

    def close_bar(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def flush(self) -> None:
        if self.tb is not None:
            self.tb.flush()
