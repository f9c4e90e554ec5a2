"""Evaluating one trained run: zero noise and S noise draws.

:func:`evaluate_run` restores the evaluation set with the run's EMA
generator once with zero noise and once per noise draw s < S
(:func:`experiments.evalset.draw_seeds`), scores each restoration
(:class:`experiments.scoring.Scorer`) and writes into ``RUN/eval/``:

* ``zero_noise/`` and ``noise_draw<s>/``: the restored PNGs
  (``<stem>__d<d>.png``);
* ``scores.json``: every score (means, per-degradation values, errors);
* ``eval_features.npz``: the identity features, so anyone can recompute
  iPrecision / iRecall (:func:`experiments.scoring.identity_scores_from_features`):
  ``real`` (N, F) ground truth, ``restored`` (D, N, F) zero-noise
  restorations, ``restored_draws`` (S, D, N, F) the noise draws,
  ``noise_draws`` (S,), ``k``, ``names`` (N,) and ``id_net``.

:func:`summarize` turns the evaluations of a variant's training seeds into
the table's numbers: mean, std of the set mean over noise draws (the table's ±), the
zero-noise value, std over training seeds and std over degradation sets.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np

from experiments.evalset import ZERO_NOISE, EvalSet, build_eval_set, restore, write_pngs
from experiments.scoring import Score, Scorer


@dataclasses.dataclass
class RunEval:
    """All evaluations of one run. ``sample``: uint8 (D, N, R, R, 3) for the
    figures (noise draw 0, or zero noise when S = 0)."""

    zero: Score
    draws: list
    sample: np.ndarray
    train: dict = dataclasses.field(default_factory=dict)

    @property
    def scores(self) -> list:
        """(label, Score) of every evaluation: ``zero``, then ``draw0``, ``draw1``, ..."""
        return [("zero", self.zero)] + [(f"draw{s}", sc) for s, sc in enumerate(self.draws)]


def prepare_evaluation(opts, cfg, lq_dir=None) -> tuple:
    """The evaluation set of ``cfg`` (a :class:`~experiments.cli.UserError` for a
    bad ``--eval_dir``), then ``--workdir`` is created; returns ``(evalset, scorer)``."""
    from faceres_tf.image_io import float_to_uint8

    num_degradations = 1 if lq_dir else opts.num_eval_degradations
    evalset = build_eval_set(cfg, opts.eval_dir, num_degradations, opts.num_eval_faces, lq_dir)
    Path(opts.workdir).mkdir(parents=True, exist_ok=True)
    return evalset, Scorer(opts, float_to_uint8(evalset.target))


def evaluate_run(run_dir, evalset: EvalSet, scorer: Scorer, num_noise_seeds: int,
                 use_ema: bool = True) -> RunEval:
    """Restores and scores ``evalset`` with ``run_dir``'s EMA (or raw) generator (see module doc)."""
    from faceres_tf.training import load_generator  # loads TensorFlow: only once the flags are parsed

    generator, _ = load_generator(run_dir, use_ema=use_ema)
    out_dir = Path(run_dir) / "eval"
    images = restore(generator, evalset, ZERO_NOISE)
    write_pngs(out_dir / "zero_noise", evalset.names, images)
    zero, draws, sample = scorer.score(images), [], images
    for s in range(int(num_noise_seeds)):
        images = restore(generator, evalset, s)
        write_pngs(out_dir / f"noise_draw{s}", evalset.names, images)
        draws.append(scorer.score(images))
        if s == 0:
            sample = images
    ev = RunEval(zero, draws, sample)
    save_scores(out_dir / "scores.json", ev)
    save_features(out_dir / "eval_features.npz", evalset, ev, scorer)
    return ev


def save_scores(path, ev: RunEval) -> Path:
    data = {label: {"metrics": sc.metrics, "per_d": sc.per_d, "errors": sc.errors}
            for label, sc in ev.scores}
    Path(path).write_text(json.dumps(data, indent=1, default=float))
    return Path(path)


def save_features(path, evalset: EvalSet, ev: RunEval, scorer: Scorer) -> Path | None:
    """Writes ``eval_features.npz`` (see module doc); nothing without identity features."""
    if ev.zero.features is None:
        return None
    draws = [sc.features["restored"] for sc in ev.draws if sc.features is not None]
    restored = ev.zero.features["restored"]
    np.savez_compressed(
        path, real=ev.zero.features["real"], restored=restored,
        restored_draws=np.stack(draws) if draws else np.zeros((0,) + restored.shape),
        noise_draws=np.arange(len(draws)), k=np.int64(scorer.k),
        names=np.asarray(evalset.stems), id_net=np.asarray(scorer.opts.id_net))
    return Path(path)


def _finite(values) -> list:
    return [v for v in values if v is not None and math.isfinite(v)]


def _mean(values):
    vals = _finite(values)
    return float(np.mean(vals)) if vals else None


def _std(values):
    vals = _finite(values)
    return float(np.std(vals, ddof=1)) if len(vals) > 1 else None


def summarize(evals, key: str) -> dict:
    """The numbers of metric ``key`` over a variant's runs (one :class:`RunEval` per seed).

    * ``mean``: mean over noise draws (zero noise when S = 0), then over seeds;
    * ``std_noise``: std over the S noise draws (ddof 1), averaged over seeds;
    * ``zero``: the zero-noise value, averaged over seeds;
    * ``std_seeds``: std over training seeds of each seed's mean (None for one seed);
    * ``std_d``: std over the D degradation sets, averaged over the evaluations;
    * ``std_noise_per_image`` (pixel metrics): each input's std over the draws,
      averaged over inputs and seeds (how much the noise moves one restoration;
      ``std_noise`` is the std of the set mean, smaller by about sqrt(D * N)).
    """
    zero = [e.zero.value(key) for e in evals]
    if any(e.draws for e in evals):
        per_seed = [_mean(sc.value(key) for sc in e.draws) for e in evals]
        std_noise = _mean(_std(sc.value(key) for sc in e.draws) for e in evals)
        used = [sc for e in evals for sc in e.draws]
    else:
        per_seed, std_noise, used = zero, None, [e.zero for e in evals]
    return {"mean": _mean(per_seed), "std_noise": std_noise, "zero": _mean(zero),
            "std_seeds": _std(per_seed), "std_d": _mean(sc.std_d(key) for sc in used),
            "std_noise_per_image": _mean(_per_image_std(e, key) for e in evals)}


def _per_image_std(ev: RunEval, key: str):
    """Mean over inputs of each input's std over the noise draws (None if < 2 draws)."""
    values = [sc.per_image[key] for sc in ev.draws if key in sc.per_image]
    if len(values) < 2:
        return None
    per_input = np.std(np.stack(values), axis=0, ddof=1)  # (D, N)
    return float(np.nanmean(per_input)) if np.isfinite(per_input).any() else None
