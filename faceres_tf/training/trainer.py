"""The RDFR training loop under tf.distribute [paper, appendix A; loop ours].

L_G = L_REC + alpha * L_ADV (Eq. 10), L_REC = l_pix * L1 + l_feat * L_feature
(Eq. 14) + l_style * L_style (Eq. 15-16); D: logistic loss + lazy R1. Adam
(lr 2.5e-3, beta1 0.0, beta2 0.99) for G and D [paper]. One G forward per step
feeds both updates (D sees the restored faces through ``stop_gradient``-free
logits but only D's variables get D's gradients). Per-example losses are
divided by the *global* batch (``tf.nn.compute_average_loss``), so the
gradients summed over replicas equal the single-device gradients.

The loop: per-replica step -> strategy.run -> EMA update (cross-replica) ->
log / checkpoint / evaluate / sample on the chief (what is logged and how a
signal stops the loop: :mod:`faceres_tf.training.monitor`). SIGINT and SIGTERM
stop the loop after the current step and write a checkpoint; restarting with
the same workdir resumes from the newest usable checkpoint (step, G, G_ema, D,
both optimizers, data seed) and trains up to ``train.steps``. What resume
guarantees (locking, checkpoint fallback, config changes, superseded records)
is described in :func:`faceres_tf.training.train` and the README
section "What happens when things go wrong".
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from pathlib import Path

import numpy as np
import tensorflow as tf

from faceres_tf import data as fdata
from faceres_tf.augment import adv_augment
from faceres_tf.config import Config
from faceres_tf.errors import RunDirError
from faceres_tf.losses import (
    discriminator_logistic_loss,
    generator_nonsaturating_loss,
    lazy_r1_weight,
    r1_penalty,
    reconstruction_loss,
)
from faceres_tf.losses.perceptual import build_perceptual_extractor
from faceres_tf.models import build_discriminator, build_generator, copy_weights
from faceres_tf.models.precision import dtype_policy, resolve_precision
from faceres_tf.seeds import derive_seed
from faceres_tf.training import checkpoint as ckpt_lib
from faceres_tf.training import ema as ema_lib
from faceres_tf.training.evaluation import evaluate_restoration
from faceres_tf.training.monitor import TrainingMonitor, stop_on_signal
from faceres_tf.training.optimizers import apply_config_learning_rates, build_optimizers
from faceres_tf.training.strategy import is_chief

logger = logging.getLogger("faceres_tf.train")


@dataclasses.dataclass
class TrainResult:
    step: int
    interrupted: bool
    last_eval: dict


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
        # "auto" -> fp32 / bf16 (decided once per process, logged); recorded in the run.
        self.precision, self.precision_reason = resolve_precision(cfg.train.precision)
        self._build(cfg, strategy, perceptual_extractor)
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
        """Creates models (computing in ``self.precision``), optimizers and
        counters inside ``strategy.scope()``."""
        dtype = dtype_policy(self.precision)
        with strategy.scope():
            if perceptual_extractor is None:
                self.extractor = build_perceptual_extractor(cfg.loss, dtype)  # None when off
                self.perceptual_source = ("off" if self.extractor is None else getattr(
                    self.extractor, "weights_source", cfg.loss.vgg_weights or "keras-cache"))
            else:
                self.extractor = perceptual_extractor
                self.perceptual_source = getattr(perceptual_extractor, "weights_source", "injected")
            self.G = build_generator(cfg, self.precision)
            self.G_ema = build_generator(cfg, self.precision)
            self.D = build_discriminator(cfg, self.precision)
            copy_weights(self.G, self.G_ema)
            self.g_opt, self.d_opt = build_optimizers(cfg, self.G.trainable_variables,
                                                      self.D.trainable_variables)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
            self.data_seed = tf.Variable(int(cfg.train.seed), dtype=tf.int64, trainable=False,
                                         name="data_seed")

    # ------------------------------------------------------------------ steps
    def _replica_step(self, degraded, target, step):
        cfg = self.cfg
        ctx = tf.distribute.get_replica_context()
        replica = tf.cast(ctx.replica_id_in_sync_group, tf.int64) if ctx else tf.constant(0, tf.int64)
        base = tf.stack([step, derive_seed(self.data_seed, replica=replica)])
        batch = tf.shape(degraded)[0]
        seeds = tf.random.stateless_uniform([batch], seed=base, minval=0, maxval=2**31 - 1,
                                            dtype=tf.int32)
        aug = cfg.loss.adv_aug
        policy, prob = cfg.loss.adv_aug_policy, cfg.loss.adv_aug_prob
        gb = self.global_batch
        g_in = {"image": degraded, "noise_seed": seeds}
        if cfg.model.fidelity_input:  # w = 1 with fidelity_one_prob, else w ~ U(0, 1)
            u = tf.random.stateless_uniform([batch], seed=base + 3)
            one = tf.random.stateless_uniform([batch], seed=base + 4) < cfg.train.fidelity_one_prob
            g_in["fidelity"] = tf.where(one, tf.ones_like(u), u)
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            fake = self.G(g_in, training=True)
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
        d_vars = self.D.trainable_variables
        g_vars = self.G.trainable_variables
        d_grads = d_tape.gradient(d_loss, d_vars)
        g_grads = g_tape.gradient(g_loss, g_vars)
        self.d_opt.apply_gradients(zip(d_grads, d_vars))
        self.g_opt.apply_gradients(zip(g_grads, g_vars))
        avg = functools.partial(tf.nn.compute_average_loss, global_batch_size=gb)
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
        grads = tape.gradient(loss, self.D.trainable_variables)
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
        seed = derive_seed(int(self.data_seed.numpy()), step=int(self.step.numpy()))

        def fn(ctx):
            return fdata.make_dataset(cfg, "train", batch_size=self.global_batch, seed=seed,
                                      input_context=ctx)

        return self.strategy.distribute_datasets_from_function(fn)

    # ------------------------------------------------------------------- loop
    def restore_checkpoint(self) -> int:
        """Restores the newest usable checkpoint of ``run_dir/checkpoints``;
        returns the step (0 for a new run).

        The checkpoints are found from their files and checked tensor by
        tensor (:mod:`faceres_tf.training.checkpoint`): a missing or garbled
        index file, or a truncated newest checkpoint, falls back to the newest
        one that reads back, with a warning naming what was skipped and why.
        Raises :class:`RunDirError` when checkpoints exist but none is usable.
        On the chief, :func:`checkpoint.tidy_after_restore` then repairs what
        a killed session left (index file, unusable checkpoints, temporaries,
        metrics records past the restored step).
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
            apply_config_learning_rates(self.g_opt, self.d_opt, self.cfg)
        step = int(self.step.numpy())
        if self.chief and ckpt_lib.tidy_after_restore(self.run_dir, plan, step):
            self.manager = self._make_manager()  # the index file was rewritten
        self._restored_step = step
        self._saved_step = step if plan.chosen is not None else None
        return step

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

        Each step: :meth:`_train_on` a batch, log and show progress
        (:class:`TrainingMonitor`), then :meth:`_periodic_actions`. SIGINT /
        SIGTERM (:func:`stop_on_signal`) end the loop after the current step;
        a checkpoint of the last step is written however the loop ends.

        Args:
            steps: the run's total number of steps.
            val_pairs: (degraded, target) numpy arrays for evaluation/sampling;
                loaded from ``data.val_dir`` when None (skipped if missing).
            progress: show a tqdm progress bar with images/s.
            stop_after: stop (with a checkpoint) after this many steps of *this*
                call, as if interrupted (used by tests).
        """
        total = int(steps if steps is not None else self.cfg.train.steps)
        start = self._restored_step if self._restored_step is not None else self.restore_checkpoint()
        monitor = TrainingMonitor(self.run_dir, self.chief, self.global_batch)
        if val_pairs is None and self.chief:
            val_pairs = self._load_val_pairs()
        if start >= total:
            logger.info("Run already at step %d >= %d; nothing to train.", start, total)
            last = self.evaluate(val_pairs) if val_pairs is not None and self.chief else {}
            return TrainResult(start, False, last)

        last_eval: dict = {}
        step = start
        with stop_on_signal() as stop:
            try:
                if progress:
                    monitor.open_bar(start, total)
                iterator = iter(self._dataset())
                monitor.start_clock(start)
                while step < total and not stop.requested:
                    step, out = self._train_on(self._next_batch(iterator))
                    if step % self.cfg.train.log_every == 0 or step == total:
                        monitor.log_losses(step, out)
                    monitor.show_progress(step, out)
                    last_eval = self._periodic_actions(step, total, val_pairs, monitor) or last_eval
                    if stop_after is not None and step - start >= stop_after:
                        stop.requested = True
            finally:
                monitor.close_bar()
                if step != start and self._saved_step != step:  # nothing new when no step ran
                    path = self.save()
                    logger.info("Checkpoint %s written at step %d", path, step)
                monitor.flush()
        interrupted = stop.requested and step < total
        if interrupted:
            logger.warning("Stopped at step %d of %d; rerun the same command to resume.", step, total)
        return TrainResult(step, interrupted, last_eval)

    def _load_val_pairs(self):
        """The validation pairs of ``data.val_dir``, or None (with a warning)."""
        try:
            return fdata.load_validation_pairs(self.cfg)
        except (ValueError, OSError) as e:
            logger.warning("No validation set (%s); periodic evaluation is off.", e)
            return None

    def _train_on(self, batch) -> tuple:
        """One training step, plus lazy R1 on the same batch when it is due;
        returns (the new step, the reduced losses)."""
        out = self.train_step(batch)
        step = int(self.step.numpy())
        r1_every = self.cfg.loss.r1_interval
        if self.cfg.loss.r1_gamma > 0 and r1_every > 0 and step % r1_every == 0:
            out.update(self.r1_step(batch))
        return step, out

    def _periodic_actions(self, step: int, total: int, val_pairs, monitor) -> dict | None:
        """Checkpoint, evaluation and sample grid when their interval is due
        (evaluation and samples also at the last step; both on the chief only).
        Returns the evaluation when one ran."""
        t = self.cfg.train
        if step % t.ckpt_every == 0 and self._saved_step != step:
            self.save()
        if val_pairs is None or not self.chief:
            return None
        res = None
        if step % t.eval_every == 0 or step == total:
            res = self.evaluate(val_pairs)
            monitor.log_eval(step, res)
        if step % t.sample_every == 0 or step == total:
            degraded, target = val_pairs
            seeds = -np.ones(len(degraded), np.int32)  # zero noise
            restored = self.G_ema({"image": degraded, "noise_seed": seeds}, training=False).numpy()
            monitor.save_samples(step, degraded, restored, target)
        return res

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
