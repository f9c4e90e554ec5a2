"""The RDFR training loop under tf.distribute [paper, appendix A; loop ours].

L_G = L_REC + alpha * L_ADV (Eq. 10), L_REC = l_pix * L1 + l_feat * L_feature
(Eq. 14) + l_style * L_style (Eq. 15-16); D: logistic loss + lazy R1. Adam
(lr 2.5e-3, beta1 0.0, beta2 0.99) for G and D [paper]. One G forward per step
feeds both updates (D sees the restored faces through ``stop_gradient``-free
logits but only D's variables get D's gradients). Per-example losses are
divided by the *global* batch (``tf.nn.compute_average_loss``), so the
gradients summed over replicas equal the single-device gradients.

The loop: per-replica step -> strategy.run -> EMA update (cross-replica) ->
log / checkpoint / evaluate / sample on the chief. SIGINT and SIGTERM stop the
loop after the current step and write a checkpoint; restarting with the same
workdir resumes from the newest usable checkpoint (step, G, G_ema, D, both
optimizers, data seed) and trains up to ``train.steps``. What resume guarantees
(locking, checkpoint fallback, config changes, superseded records) is described
in :func:`train` and the README section "What happens when things go wrong".
"""

from __future__ import annotations

import dataclasses
import logging
import math
import signal
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from faceres_tf import data as fdata
from faceres_tf.augment import adv_augment
from faceres_tf.config import Config, validate
from faceres_tf.errors import RunDirError, UserError
from faceres_tf.losses import (
    discriminator_logistic_loss,
    generator_nonsaturating_loss,
    lazy_r1_weight,
    r1_penalty,
    reconstruction_loss,
)
from faceres_tf.models import build_discriminator, build_generator
from faceres_tf.training import checkpoint as ckpt_lib
from faceres_tf.training import ema as ema_lib
from faceres_tf.training import run_dir as rd
from faceres_tf.training.evaluation import evaluate_restoration, save_grid
from faceres_tf.training.run_lock import RunLock
from faceres_tf.training.strategy import is_chief

logger = logging.getLogger("faceres_tf.train")


@dataclasses.dataclass
class TrainResult:
    step: int
    interrupted: bool
    last_eval: dict


def _build_perceptual(cfg: Config):
    """The perceptual feature extractor, or None when the perceptual loss is off."""
    if cfg.loss.perceptual == "off":
        return None, "off"
    if cfg.loss.perceptual == "hed_vgg16":
        from faceres_tf.losses.perceptual import build_hed_vgg16_features

        extractor = build_hed_vgg16_features()
        return extractor, extractor.weights_source
    from faceres_tf.losses.perceptual import build_vgg19_features

    extractor = build_vgg19_features(cfg.loss.vgg_layers, weights_path=cfg.loss.vgg_weights)
    return extractor, getattr(extractor, "weights_source", cfg.loss.vgg_weights or "keras-cache")


def d_optimizer_settings(cfg: Config) -> tuple:
    """D's Adam (lr, beta1, beta2) with StyleGAN2's lazy-regularisation correction.

    With R1 every N steps, D takes N + 1 optimiser steps per N training steps;
    StyleGAN2 compensates with lr * c and beta ** c, c = N / (N + 1).
    [ours: from StyleGAN2] (``loss.r1_lazy_correction``).
    """
    t, loss = cfg.train, cfg.loss
    lazy = loss.r1_gamma > 0 and loss.r1_interval > 1 and loss.r1_lazy_correction
    if not lazy:
        return t.lr, t.beta1, t.beta2
    c = loss.r1_interval / (loss.r1_interval + 1.0)
    return t.lr * c, t.beta1 ** c, t.beta2 ** c


class Trainer:
    """Owns the models, optimizers, checkpoint and the distributed step.

    Args:
        cfg: the resolved :class:`Config`.
        run_dir: the run directory (created if needed).
        strategy: a ``tf.distribute.Strategy`` (built once by the driver).
        perceptual_extractor: inject a feature network (tests); by default it
            is built from ``cfg.loss`` (VGG19 weights must exist unless
            ``loss.perceptual == "off"``).
    """

    def __init__(self, cfg: Config, run_dir, strategy: tf.distribute.Strategy,
                 perceptual_extractor=None):
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.strategy = strategy
        self.chief = is_chief(strategy)
        self.global_batch = int(cfg.train.batch_size)
        replicas = strategy.num_replicas_in_sync
        if self.global_batch % replicas:
            raise ValueError(
                f"train.batch_size={self.global_batch} is not divisible by the "
                f"{replicas} replicas; choose a multiple of {replicas}"
            )
        policy = {"bf16": "mixed_bfloat16"}.get(cfg.train.precision, "float32")
        if cfg.train.mixed_precision:
            policy = "mixed_float16"
        previous_policy = keras.mixed_precision.global_policy()
        # The compute dtype is fixed when a layer is built, so the policy is only
        # set while the models are built and restored afterwards.
        keras.mixed_precision.set_global_policy(policy)
        try:
            self._build(cfg, strategy, perceptual_extractor)
        finally:
            keras.mixed_precision.set_global_policy(previous_policy)
        self.ema_beta = ema_lib.ema_beta(self.global_batch, cfg.train.ema_half_life_images)
        self.checkpoint = tf.train.Checkpoint(
            step=self.step, data_seed=self.data_seed, generator=self.G,
            generator_ema=self.G_ema, discriminator=self.D, g_optimizer=self.g_opt,
            d_optimizer=self.d_opt,
        )
        self.manager = self._make_manager()
        self._restored_step: int | None = None  # set by restore()
        self._saved_step: int | None = None  # step of the newest checkpoint on disk
        self._compile_steps()

    def _make_manager(self) -> tf.train.CheckpointManager:
        ckpt_dir = self.run_dir / "checkpoints"
        if not self.chief:  # MultiWorker: non-chief workers write to a scratch dir
            task_id = getattr(self.strategy.cluster_resolver, "task_id", 0)
            ckpt_dir = self.run_dir / f".worker_{task_id}_checkpoints"
        elif ckpt_lib.read_index(ckpt_dir)[1].startswith("unreadable"):
            kept = ckpt_lib.set_index_aside(ckpt_dir)
            logger.warning("Checkpoint index %s is unreadable; kept as %s, rebuilt from the "
                           "checkpoint files on restore.", ckpt_dir / ckpt_lib.INDEX_FILE,
                           kept.name)
        return tf.train.CheckpointManager(
            self.checkpoint, str(ckpt_dir), max_to_keep=self.cfg.train.keep_checkpoints
        )

    def _build(self, cfg: Config, strategy, perceptual_extractor):
        """Creates models, optimizers and counters inside ``strategy.scope()``."""
        with strategy.scope():
            if perceptual_extractor is None:
                self.extractor, self.perceptual_source = _build_perceptual(cfg)
            else:
                self.extractor = perceptual_extractor
                self.perceptual_source = getattr(perceptual_extractor, "weights_source", "injected")
            self.G = build_generator(cfg)
            self.G_ema = build_generator(cfg)
            self.D = build_discriminator(cfg)
            ema_lib.copy_weights(self.G, self.G_ema)
            t = cfg.train
            self.g_opt = keras.optimizers.Adam(t.lr, beta_1=t.beta1, beta_2=t.beta2, epsilon=1e-8)
            d_lr, d_b1, d_b2 = d_optimizer_settings(cfg)
            self.d_opt = keras.optimizers.Adam(d_lr, beta_1=d_b1, beta_2=d_b2, epsilon=1e-8)
            if t.mixed_precision:
                self.g_opt = keras.optimizers.LossScaleOptimizer(self.g_opt)
                self.d_opt = keras.optimizers.LossScaleOptimizer(self.d_opt)
            # Keras 3 + several replicas: optimizers must be built inside the scope.
            self.g_opt.build(self.G.trainable_variables)
            self.d_opt.build(self.D.trainable_variables)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
            self.data_seed = tf.Variable(int(cfg.train.seed), dtype=tf.int64, trainable=False,
                                         name="data_seed")

    # ------------------------------------------------------------------ steps
    def _replica_step(self, degraded, target, step):
        cfg = self.cfg
        ctx = tf.distribute.get_replica_context()
        replica = tf.cast(ctx.replica_id_in_sync_group, tf.int64) if ctx else tf.constant(0, tf.int64)
        base = tf.stack([step, replica * 7919 + self.data_seed])
        batch = tf.shape(degraded)[0]
        seeds = tf.random.stateless_uniform([batch], seed=base, minval=0, maxval=2**31 - 1,
                                            dtype=tf.int32)
        aug = cfg.loss.adv_aug
        policy, prob = cfg.loss.adv_aug_policy, cfg.loss.adv_aug_prob
        gb = self.global_batch
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            fake = self.G({"image": degraded, "noise_seed": seeds}, training=True)
            fake = tf.cast(fake, tf.float32)
            real_in = adv_augment(target, policy, prob, seed=base + 1) if aug else target
            fake_in = adv_augment(fake, policy, prob, seed=base + 2) if aug else fake
            real_logits = tf.cast(self.D(real_in, training=True), tf.float32)
            fake_logits = tf.cast(self.D(fake_in, training=True), tf.float32)
            rec = reconstruction_loss(fake, target, cfg.loss, extractor=self.extractor)
            g_adv = generator_nonsaturating_loss(fake_logits)
            g_per_example = rec["total"] + cfg.loss.alpha * g_adv
            g_loss = tf.nn.compute_average_loss(g_per_example, global_batch_size=gb)
            if self.G.losses:  # FeatureQuantizer commitment (already a batch mean)
                g_loss += cfg.loss.quantizer_weight * tf.add_n(self.G.losses) / float(
                    self.strategy.num_replicas_in_sync)
            d_per_example = discriminator_logistic_loss(real_logits, fake_logits)
            d_loss = tf.nn.compute_average_loss(d_per_example, global_batch_size=gb)
            g_scaled = self.g_opt.scale_loss(g_loss) if self.cfg.train.mixed_precision else g_loss
            d_scaled = self.d_opt.scale_loss(d_loss) if self.cfg.train.mixed_precision else d_loss
        d_vars = self.D.trainable_variables
        g_vars = self.G.trainable_variables
        d_grads = d_tape.gradient(d_scaled, d_vars)
        g_grads = g_tape.gradient(g_scaled, g_vars)
        self.d_opt.apply_gradients(zip(d_grads, d_vars))
        self.g_opt.apply_gradients(zip(g_grads, g_vars))
        avg = lambda v: tf.nn.compute_average_loss(v, global_batch_size=gb)
        out = {"g_loss": g_loss, "d_loss": d_loss, "g_adv": avg(g_adv), "l1": avg(rec["pixel"])}
        for k in ("feature", "style"):
            if k in rec:
                out[k] = avg(rec[k])
        out["real_score"] = avg(tf.reshape(real_logits, [-1]))
        out["fake_score"] = avg(tf.reshape(fake_logits, [-1]))
        return out

    def _replica_r1_step(self, target):
        cfg = self.cfg
        aug = cfg.loss.adv_aug
        policy, prob = cfg.loss.adv_aug_policy, cfg.loss.adv_aug_prob

        def d_fn(x, training=True):
            x = adv_augment(x, policy, prob) if aug else x
            return self.D(x, training=training)

        with tf.GradientTape() as tape:
            penalty = r1_penalty(d_fn, target)
            weight = lazy_r1_weight(cfg.loss.r1_gamma, cfg.loss.r1_interval)
            loss = tf.nn.compute_average_loss(penalty * weight, global_batch_size=self.global_batch)
            scaled = self.d_opt.scale_loss(loss) if cfg.train.mixed_precision else loss
        grads = tape.gradient(scaled, self.D.trainable_variables)
        # The logit's bias does not change grad_x D, so it gets no R1 gradient.
        pairs = [(g, v) for g, v in zip(grads, self.D.trainable_variables) if g is not None]
        self.d_opt.apply_gradients(pairs)
        return {"r1": tf.nn.compute_average_loss(penalty, global_batch_size=self.global_batch)}

    def _compile_steps(self):
        strategy = self.strategy
        jit = bool(self.cfg.train.jit_compile)
        replica_step = tf.function(self._replica_step, jit_compile=jit) if jit else self._replica_step

        @tf.function
        def train_step(batch):
            degraded, target = batch
            out = strategy.run(replica_step, args=(degraded, target, self.step))
            out = {k: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for k, v in out.items()}
            ema_lib.update_ema(self.G, self.G_ema, self.ema_beta)
            self.step.assign_add(1)
            return out

        @tf.function
        def r1_step(batch):
            _, target = batch
            out = strategy.run(self._replica_r1_step, args=(target,))
            return {k: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for k, v in out.items()}

        self.train_step = train_step
        self.r1_step = r1_step

    # ------------------------------------------------------------------- data
    def _dataset(self):
        cfg = self.cfg
        seed = int(self.data_seed.numpy()) + 1_000_003 * int(self.step.numpy())

        def fn(ctx):
            return fdata.make_dataset(cfg, "train", batch_size=self.global_batch, seed=seed,
                                      input_context=ctx)

        return self.strategy.distribute_datasets_from_function(fn)

    # ------------------------------------------------------------------- loop
    def restore(self) -> int:
        """Restores the newest usable checkpoint of ``run_dir/checkpoints``;
        returns the step (0 for a new run).

        The checkpoints are found from their files and checked tensor by
        tensor (:mod:`faceres_tf.training.checkpoint`): a missing or garbled
        index file, or a truncated newest checkpoint, falls back to the newest
        one that reads back, with a warning naming what was skipped and why.
        Raises :class:`RunDirError` when checkpoints exist but none is usable.
        On the chief, also repairs the index file, moves unusable checkpoints
        to ``checkpoints/unusable/``, removes temporaries of a killed save and
        moves metrics records past the restored step to
        ``metrics_superseded.jsonl``.
        """
        # Every worker restores the chief's checkpoint, so all resume from the
        # same state (non-chief workers only *write* to their scratch dirs).
        ckpt_dir = self.run_dir / "checkpoints"
        plan = ckpt_lib.find_restorable(ckpt_dir)
        for ck, reason in plan.skipped:
            logger.warning("Skipping checkpoint %s: %s", ck.prefix, reason)
        if plan.chosen is not None:
            try:
                self.checkpoint.restore(plan.chosen.prefix).assert_existing_objects_matched()
            except (AssertionError, ValueError, tf.errors.OpError) as e:
                raise RunDirError(
                    f"checkpoint {plan.chosen.prefix} does not fit this model and trainer "
                    f"({' '.join(str(e).split())[:300]}); use another --workdir."
                ) from e
            logger.info("Resumed from %s (step %d)", plan.chosen.prefix, int(self.step.numpy()))
        step = int(self.step.numpy())
        if self.chief:
            self._tidy_after_restore(plan, step)
        self._restored_step = step
        self._saved_step = step if plan.chosen is not None else None
        return step

    def _tidy_after_restore(self, plan, step: int) -> None:
        ckpt_dir = self.run_dir / "checkpoints"
        for ck, _ in plan.skipped:
            dest = ckpt_lib.set_aside(ckpt_dir, ck)
            logger.warning("Moved the unusable %s to %s", ck.name, dest)
        removed = (ckpt_lib.remove_stale_temporaries(ckpt_dir)
                   + rd.remove_run_temporaries(self.run_dir))
        if removed:
            logger.info("Removed temporaries of an interrupted write: %s", ", ".join(removed))
        if plan.chosen is not None:
            name, problem = ckpt_lib.read_index(ckpt_dir)
            if problem or name != plan.chosen.name:
                logger.warning("Checkpoint index %s was %s; rewritten to name %s.",
                               ckpt_dir / ckpt_lib.INDEX_FILE,
                               problem or f"pointing at {name}", plan.chosen.name)
                ckpt_lib.write_index(ckpt_dir, plan.chosen, plan.older)
                self.manager = self._make_manager()
        moved = rd.supersede_metrics_after(self.run_dir, step)
        if moved:
            logger.warning("%d metrics record(s) of steps after %d (lost with the interrupted "
                           "session) moved to %s.", moved, step, rd.SUPERSEDED_METRICS)

    @property
    def has_checkpoint(self) -> bool:
        """True once a checkpoint of this run exists (restored or written)."""
        return self._saved_step is not None

    def save(self) -> str:
        path = self.manager.save(checkpoint_number=int(self.step.numpy()))
        self._saved_step = int(self.step.numpy())
        return path

    def evaluate(self, val_pairs) -> dict:
        degraded, target = val_pairs
        return evaluate_restoration(self.G_ema, degraded, target)

    def fit(self, steps: int | None = None, val_pairs=None, progress: bool = True,
            stop_after: int | None = None) -> TrainResult:
        """Trains until ``steps`` (default ``cfg.train.steps``) total steps.

        Args:
            steps: the run's total number of steps.
            val_pairs: (degraded, target) numpy arrays for evaluation/sampling;
                loaded from ``data.val_dir`` when None (skipped if missing).
            progress: show a tqdm progress bar with images/s.
            stop_after: stop (with a checkpoint) after this many steps of *this*
                call, as if interrupted (used by tests).
        """
        cfg = self.cfg.train
        total = int(steps if steps is not None else cfg.steps)
        start = self._restored_step if self._restored_step is not None else self.restore()
        writer = rd.MetricsWriter(self.run_dir)
        tb = tf.summary.create_file_writer(str(self.run_dir / "tensorboard")) if self.chief else None
        if val_pairs is None and self.chief:
            try:
                val_pairs = fdata.load_validation_pairs(self.cfg)
            except (ValueError, OSError) as e:
                logger.warning("No validation set (%s); periodic evaluation is off.", e)
        if start >= total:
            logger.info("Run already at step %d >= %d; nothing to train.", start, total)
            last = self.evaluate(val_pairs) if val_pairs is not None and self.chief else {}
            return TrainResult(start, False, last)

        stop = {"flag": False, "signal": None}

        def handler(signum, frame):
            stop["flag"], stop["signal"] = True, signum
            logger.warning("Signal %d received: stopping after this step and saving.", signum)

        old_handlers = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                old_handlers[sig] = signal.signal(sig, handler)
            except ValueError:  # not in the main thread
                pass

        bar = None
        if progress and self.chief:
            from tqdm import tqdm

            bar = tqdm(total=total, initial=start, unit="step", dynamic_ncols=True)
        iterator = iter(self._dataset())
        last_eval: dict = {}
        t0, n0 = time.time(), start
        step = start
        try:
            while step < total and not stop["flag"]:
                batch = self._next_batch(iterator)
                out = self.train_step(batch)
                step = int(self.step.numpy())
                r1_every = self.cfg.loss.r1_interval
                if self.cfg.loss.r1_gamma > 0 and r1_every > 0 and step % r1_every == 0:
                    out.update(self.r1_step(batch))  # lazy R1 on the same batch
                if step % cfg.log_every == 0 or step == total:
                    dt = max(time.time() - t0, 1e-9)
                    ips = (step - n0) * self.global_batch / dt
                    rec = {k: float(v) for k, v in out.items()}
                    rec.update(step=step, images_per_sec=ips, time=time.time())
                    for k, v in rec.items():
                        if isinstance(v, float) and not math.isfinite(v) and k != "time":
                            raise FloatingPointError(f"{k} became {v} at step {step}; lower the lr.")
                    if self.chief:
                        writer.write(rec)
                        with tb.as_default(step=step):
                            for k, v in rec.items():
                                if k not in ("step", "time"):
                                    tf.summary.scalar(k, v)
                        logger.info("step %d  g %.4f  d %.4f  l1 %.4f  %.1f img/s", step,
                                    rec["g_loss"], rec["d_loss"], rec["l1"], ips)
                    t0, n0 = time.time(), step
                if bar is not None:
                    bar.update(step - bar.n)
                    bar.set_postfix(g=f"{float(out['g_loss']):.3f}", d=f"{float(out['d_loss']):.3f}",
                                    img_s=f"{(step - n0) * self.global_batch / max(time.time() - t0, 1e-9):.1f}")
                if step % cfg.ckpt_every == 0 and self._saved_step != step:
                    self.save()
                if val_pairs is not None and self.chief and (
                        step % cfg.eval_every == 0 or step == total):
                    last_eval = self._eval_and_log(val_pairs, step, writer, tb)
                if val_pairs is not None and self.chief and (
                        step % cfg.sample_every == 0 or step == total):
                    self._sample(val_pairs, step, tb)
                if stop_after is not None and step - start >= stop_after:
                    stop["flag"] = True
        finally:
            if bar is not None:
                bar.close()
            if step != start and self._saved_step != step:  # nothing new when no step ran
                path = self.save()
                logger.info("Checkpoint %s written at step %d", path, step)
            for sig, h in old_handlers.items():
                signal.signal(sig, h)
            if tb is not None:
                tb.flush()
        interrupted = stop["flag"] and step < total
        if interrupted:
            logger.warning("Stopped at step %d of %d; rerun the same command to resume.", step, total)
        return TrainResult(step, interrupted, last_eval)

    def _next_batch(self, iterator):
        """``next(iterator)``; a damaged TFRecord shard becomes a DataError naming it."""
        try:
            return next(iterator)
        except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as e:
            explained = fdata.explain_data_error(self.cfg.data.train_dir,
                                                 self.cfg.model.resolution, e)
            if explained is e:
                raise
            raise explained from e

    def _eval_and_log(self, val_pairs, step, writer, tb) -> dict:
        res = self.evaluate(val_pairs)
        rec = {"step": step, "eval": res, "time": time.time()}
        writer.write(rec)
        with tb.as_default(step=step):
            for k, v in res.items():
                tf.summary.scalar(f"eval/{k}", v)
        logger.info(
            "eval step %d: PSNR restored %.2f dB vs degraded input %.2f dB; SSIM %.4f vs %.4f",
            step, res["psnr_restored"], res["psnr_degraded"], res["ssim_restored"], res["ssim_degraded"],
        )
        return res

    def _sample(self, val_pairs, step, tb):
        degraded, target = val_pairs
        restored = self.G_ema({"image": degraded, "noise_seed": -np.ones(len(degraded), np.int32)},
                              training=False).numpy()
        grid = save_grid(self.run_dir / "samples" / f"step_{step:07d}.png", degraded, restored, target)
        save_grid(self.run_dir / "samples" / "latest.png", degraded, restored, target)
        with tb.as_default(step=step):
            tf.summary.image("degraded|restored|target", grid[None], step=step)


def train(cfg: Config, workdir, strategy: tf.distribute.Strategy | None = None,
          steps: int | None = None, progress: bool = True, perceptual_extractor=None,
          stop_after: int | None = None, allow_config_change: bool = False) -> TrainResult:
    """Library entry point: prepares ``workdir``, trains (or resumes) to ``steps``.

    Before anything is created: the config is validated and the training data
    checked (a :class:`faceres_tf.errors.UserError` otherwise). The chief then
    locks ``workdir`` (:class:`RunLock`; a second training on it gets
    :class:`RunLockedError`), compares the config with the run's saved one
    (:func:`run_dir.check_resume_config`; changed training fields need
    ``allow_config_change``, and are recorded with their step), restores the
    newest usable checkpoint and trains. When a new run fails with a user
    error before its first checkpoint, what it created is removed again.

    The drivers in ``experiments/`` call this after parsing flags; it reads no flags.
    """
    from faceres_tf.training.strategy import make_strategy

    validate(cfg)
    fdata.check_data_source(cfg.data.train_dir, what="data.train_dir (--data_dir)")
    strategy = strategy or make_strategy()
    workdir = Path(workdir)
    if not is_chief(strategy):  # workers write only to their scratch checkpoint dir
        workdir.mkdir(parents=True, exist_ok=True)
        # the chief's check, read-only: a refused resume stops every worker
        has_checkpoints = bool(ckpt_lib.list_checkpoints(workdir / "checkpoints"))
        rd.check_resume_config(workdir, cfg, allow_config_change, has_checkpoints)
        trainer = Trainer(cfg, workdir, strategy, perceptual_extractor=perceptual_extractor)
        return trainer.fit(steps=steps, progress=progress, stop_after=stop_after)

    was_new, existed = rd.is_new_run_dir(workdir), workdir.exists()
    lock = _lock_run_dir(workdir)
    handler, trainer, discard = None, None, False
    try:
        has_checkpoints = bool(ckpt_lib.list_checkpoints(workdir / "checkpoints"))
        changes = rd.check_resume_config(workdir, cfg, allow_config_change, has_checkpoints)
        handler = rd.add_file_logging(workdir, logger)
        trainer = Trainer(cfg, workdir, strategy, perceptual_extractor=perceptual_extractor)
        step = trainer.restore()
        _record_session(trainer, step, changes, steps)
        return trainer.fit(steps=steps, progress=progress, stop_after=stop_after)
    except UserError:
        discard = was_new and (trainer is None or not trainer.has_checkpoint)
        raise
    finally:
        if handler is not None:
            logger.removeHandler(handler)
            handler.close()
        lock.release()
        if discard:
            _discard_new_run(workdir, existed)


def _lock_run_dir(workdir: Path) -> RunLock:
    """Creates the run directory's layout and takes its lock."""
    try:
        rd.ensure_layout(workdir)
        return RunLock(workdir).acquire()
    except PermissionError as e:
        raise RunDirError(f"cannot write to --workdir {workdir}: {e.strerror} ({e.filename}); "
                          "choose a writable folder") from None


def _record_session(trainer: Trainer, step: int, changes: dict, steps: int | None) -> None:
    """config.json / run_info.json for a session resumed at ``step``; logs the changes."""
    cfg, strategy = trainer.cfg, trainer.strategy
    saved = cfg.to_dict()
    saved["resolved"] = {"perceptual_weights": str(trainer.perceptual_source)}
    rd.record_session(trainer.run_dir, saved, step, changes, {
        "strategy": type(strategy).__name__,
        "replicas": strategy.num_replicas_in_sync,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "target_steps": int(steps if steps is not None else cfg.train.steps),
    })
    for key, (old, new) in changes.items():
        level = logging.INFO if key in rd.RESUME_FREE_FIELDS else logging.WARNING
        logger.log(level, "Config change from step %d on: %s %r -> %r", step, key, old, new)


def _discard_new_run(workdir: Path, existed: bool) -> None:
    """Removes what a new run created before failing on a user error (it had
    no checkpoint yet), so a corrected command starts from a clean slate."""
    import shutil

    if existed:  # an empty folder the user made: empty it again, keep it
        for p in workdir.iterdir():
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
    else:
        shutil.rmtree(workdir, ignore_errors=True)
