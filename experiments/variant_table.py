"""The variant-table runner behind Tables 6 and 7 and appendix C.4.

A driver declares its variants (:class:`Variant`) and the paper's table
(:class:`TableSpec`); :func:`run_table` then

1. plans every run (``WORKDIR/<variant>/seed<k>``, :mod:`experiments.runs`)
   and builds the evaluation set, raising :class:`~experiments.cli.UserError`
   before anything is written;
2. trains or reuses each run and evaluates it with zero noise and S noise
   draws (:mod:`experiments.run_eval`);
3. scores the degraded inputs as a baseline row and writes
   ``WORKDIR/results.md`` (our table, the identity metrics per degradation
   set, then the paper's table), ``results.csv`` (one row per variant, every
   statistic), ``results_draws.csv`` (one row per run and evaluation), the
   image grid and the plot.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Callable, Sequence

from absl import flags

from experiments import cli, options, reports
from experiments.options import ExpOptions, base_config
from experiments.run_eval import evaluate_run, prepare_evaluation, summarize
from experiments.runs import RunKeeper, plan_variants, skip_variant_name
from experiments.scoring import IDENTITY_METRICS

NOISY = ("psnr", "ssim", "iprecision")  # mean ± std of the set mean over noise draws
PER_IMAGE = ("psnr", "ssim", "lpips")  # also: each input's std over the draws
ALL_KEYS = ("psnr", "ssim", "lpips", "fid") + IDENTITY_METRICS


@dataclasses.dataclass
class Variant:
    """One row: runs in ``WORKDIR/<name>/seed<k>`` with config ``updates``.

    ``fields``: extra CSV columns; ``skipped``: why the variant cannot run
    here (listed as skipped, never trained).
    """

    name: str
    label: str
    updates: dict
    fields: dict = dataclasses.field(default_factory=dict)
    skipped: str | None = None


def sweep_main(run_experiment: Callable, flag: str, parse: Callable) -> Callable:
    """The absl ``main`` of a sweep driver: ``run_experiment(options, values)`` with
    ``values = parse(FLAGS.<flag>, flag)`` (e.g. :func:`~experiments.options.int_list`),
    under the :func:`experiments.cli.run_experiment` conventions."""
    def main(argv):
        del argv
        return cli.run_experiment(lambda: run_experiment(
            options.options_from_flags(), parse(getattr(flags.FLAGS, flag), flag)))

    return main


def skip_variants(skips, resolution: int) -> list:
    """Table 6 / C.2: one :class:`Variant` per n (``model.num_skips``, runs in
    ``skips<n>``); a value the resolution cannot have carries the reason."""
    from faceres_tf.config_ranges import skip_nodes

    nodes = skip_nodes(resolution)
    out = []
    for n in skips:
        why = None
        if not 0 <= n <= len(nodes):
            why = (f"resolution {resolution} px has only {len(nodes)} skip node(s) "
                   f"{tuple(nodes)}; n = {n} is impossible")
            print(f"skipping n={n}: {why}", flush=True)
        out.append(Variant(skip_variant_name(n), f"n={n}", {"model.num_skips": n},
                           {"num_skips": n}, why))
    return out


@dataclasses.dataclass
class TableSpec:
    """What a table driver declares. ``plot_fn(path, rows, cfg)`` draws the figure
    from the ``results.csv`` rows of the variants that ran."""

    title: str
    variants: Sequence[Variant]
    keys: Sequence[str]
    first_col: str
    paper_title: str
    paper_rows: Sequence[Sequence[str]]
    extra_fields: Sequence[str] = ()
    grid_name: str = "grid.png"
    plot_name: str = "plot.png"
    plot_fn: Callable | None = None
    notes: Sequence[str] = ()
    seed_keys: Sequence[str] = ("psnr",)  # each gets a "std over training seeds" column
    sections_fn: Callable | None = None  # rows -> extra markdown lines after our tables


def run_table(opts: ExpOptions, spec: TableSpec) -> dict:
    """Plans, trains/reuses, evaluates and reports ``spec`` (see module doc)."""
    from faceres_tf.image_io import float_to_uint8

    cfg0 = base_config(opts)
    plans = plan_variants(spec.variants, cfg0, opts.workdir, range(int(opts.num_seeds)))
    check_equal_budget(plans)
    evalset, scorer = prepare_evaluation(opts, cfg0)
    keeper = RunKeeper(opts)
    evals = {}
    for name, runs in plans.items():
        evals[name] = []
        for run in runs:
            info = keeper.ensure_trained(run)
            ev = evaluate_run(run.run_dir, evalset, scorer, opts.num_noise_seeds,
                              use_ema=opts.ema)
            ev.train = info
            evals[name].append(ev)
            means = {k: summarize([ev], k)["mean"] for k in ALL_KEYS}
            print(f"{name} seed {run.seed}: " + ", ".join(
                f"{k} {v:.4f}" for k, v in means.items() if v is not None), flush=True)
    baseline = scorer.score(float_to_uint8(evalset.degraded))
    return write_results(opts, spec, cfg0, evalset, scorer, evals, baseline)


def check_equal_budget(plans: dict) -> None:
    """Every run of the table is evaluated at the same step: a finished run
    trained past ``--steps`` (its latest checkpoint would be evaluated) is a
    :class:`~experiments.cli.UserError` before anything is written."""
    runs = [r for rs in plans.values() for r in rs]
    over = [r for r in runs if r.done_step > r.steps]
    if over:
        top = max(r.done_step for r in over)
        raise cli.UserError(
            f"{over[0].run_dir} is at step {over[0].done_step} > --steps={over[0].steps}: the "
            f"table would compare unequal training budgets; pass --steps={top} (the other runs "
            "are trained on to it) or use another --workdir.")


def variant_row(v: Variant, evals: list, evalset) -> dict:
    """The ``results.csv`` row of a variant: every statistic of every metric."""
    row = {"variant": v.label, **v.fields, "status": "ok", "seeds": len(evals),
           "noise_draws": len(evals[0].draws), "steps": evals[0].train.get("step"),
           "eval_faces": evalset.num_faces, "eval_degradations": evalset.num_degradations}
    for key in ALL_KEYS:
        s = summarize(evals, key)
        row.update({key: s["mean"], f"{key}_std_noise": s["std_noise"],
                    f"{key}_zero_noise": s["zero"], f"{key}_std_seeds": s["std_seeds"],
                    f"{key}_std_degradations": s["std_d"]})
        if key in PER_IMAGE:
            row[f"{key}_std_noise_per_image"] = s["std_noise_per_image"]
    return row


def csv_fields(spec: TableSpec) -> list:
    stats = ("", "_std_noise", "_zero_noise", "_std_seeds", "_std_degradations")
    return (["variant", *spec.extra_fields, "status", "seeds", "noise_draws", "steps",
             "eval_faces", "eval_degradations"] + [k + s for k in ALL_KEYS for s in stats]
            + [f"{k}_std_noise_per_image" for k in PER_IMAGE])


def table_cells(opts: ExpOptions, spec: TableSpec, rows: list) -> tuple:
    """The markdown header and cells of "Ours" (labels say what each ± is)."""
    draws = int(opts.num_noise_seeds) > 0
    zero_keys = [k for k in spec.keys if k in NOISY] if draws else []
    pm = " (mean ± std of the set mean over noise draws)" if draws else " (zero noise)"
    header = [spec.first_col] + [reports.HEADERS[k] + (pm if k == "psnr" else "")
                                 for k in spec.keys]
    header += [f"{reports.HEADERS[k]} zero noise" for k in zero_keys]
    per_input = int(opts.num_noise_seeds) > 1 and "psnr" in spec.keys
    if per_input:
        header.append("PSNR std over draws per input")
    seed_keys = [k for k in spec.seed_keys if k in spec.keys] if int(opts.num_seeds) > 1 else []
    header += [f"{reports.HEADERS[k].rstrip('↑↓')} std over training seeds" for k in seed_keys]
    cells = []
    for r in rows:
        if r["status"] not in ("ok", "baseline"):
            cells.append([r["variant"]] + ["skipped"] * (len(header) - 1))
            continue
        base = r["status"] == "baseline"
        line = [r["variant"]] + [reports.fmt_metric(k, r[k], None if k not in NOISY else
                                                    r.get(f"{k}_std_noise")) for k in spec.keys]
        line += ["–" if base else reports.fmt_metric(k, r[f"{k}_zero_noise"]) for k in zero_keys]
        if per_input:
            line.append("–" if base else reports.fmt_std(r["psnr_std_noise_per_image"], 2))
        line += ["–" if base else reports.fmt_std(r[f"{k}_std_seeds"], reports.DIGITS[k])
                 for k in seed_keys]
        cells.append(line)
    return header, cells


def identity_table(rows: list) -> list:
    """Markdown lines: identity metrics as mean ± std over the D degradation sets."""
    keys = IDENTITY_METRICS
    ok = [r for r in rows if r["status"] in ("ok", "baseline") and r.get("iprecision") is not None]
    if not ok:
        return []
    header = ["variant"] + [reports.HEADERS[k] + " (mean ± std over degradation sets)"
                            for k in keys]
    cells = [[r["variant"]] + [reports.fmt_metric(k, r[k], r.get(f"{k}_std_degradations"))
                               for k in keys] for r in ok]
    return ["", "Identity metrics, each degradation set scored N vs N against the distinct "
            "ground truths (noise draws averaged as above):", "",
            reports.markdown_table(header, cells)]


def write_results(opts, spec: TableSpec, cfg0, evalset, scorer, evals, baseline) -> dict:
    """results.md, results.csv, results_draws.csv, the grid and the plot."""
    workdir = Path(opts.workdir)
    rows = []
    for v in spec.variants:
        if v.skipped is not None:
            rows.append({"variant": v.label, **v.fields, "status": "skipped: " + v.skipped})
        else:
            rows.append(variant_row(v, evals[v.name], evalset))
    base = {"variant": "input (degraded)", "status": "baseline",
            **{k: baseline.value(k) for k in ALL_KEYS},
            **{f"{k}_std_degradations": baseline.std_d(k) for k in ALL_KEYS}}
    rows.append(base)
    header, cells = table_cells(opts, spec, rows)
    ran = [v for v in spec.variants if v.skipped is None]
    files = {"grid": _grid(workdir / spec.grid_name, evalset, ran, evals)}
    if spec.plot_fn is not None:
        files["plot"] = spec.plot_fn(workdir / spec.plot_name,
                                     [r for r in rows if r["status"] == "ok"], cfg0)
    scores = [sc for evs in evals.values() for e in evs for _, sc in e.scores] + [baseline]
    lines = reports.header_lines(spec.title, cfg0, opts, evalset, spec.notes)
    lines += ["## Ours (this run)", ""] + seeds_legend(opts)
    lines += [reports.markdown_table(header, cells)]
    lines += identity_table(rows)
    if spec.sections_fn is not None:
        lines += spec.sections_fn([r for r in rows if r["status"] == "ok"])
    lines += reports.na_footnotes(reports.collect_na(scores, spec.keys, scorer.na_reasons()))
    skipped = [v for v in spec.variants if v.skipped is not None]
    if skipped:
        lines += ["", "Skipped variants:"] + [f"- {v.label}: {v.skipped}" for v in skipped]
    paper_header = [spec.first_col] + [reports.HEADERS[k] for k in spec.keys]
    sample = "noise draw 0" if opts.num_noise_seeds else "zero noise"
    lines += ["", f"## Paper (quoted), {spec.paper_title}", "",
              reports.markdown_table(paper_header, spec.paper_rows), "", reports.PAPER_NOTE, "",
              "Figures: " + ", ".join(f"`{p.name}`" for p in files.values())
              + f" (grid: input | each variant, {sample} | GT)."]
    features = publish_features(workdir, spec, evals)
    md = reports.write_text(workdir / "results.md", lines)
    csv_path = reports.write_csv(workdir / "results.csv", rows, csv_fields(spec))
    draws_csv = reports.write_csv(workdir / "results_draws.csv", _draw_rows(spec, evals))
    print(reports.markdown_table(header, cells))
    print(f"wrote {md}, {csv_path}, {draws_csv}, " + ", ".join(str(p) for p in files.values()))
    return {"rows": rows, "results_md": md, "results_csv": csv_path, "evals": evals,
            "evalset": evalset, "baseline": baseline, "features": features, **files}


def seeds_legend(opts) -> list:
    """With several training seeds: what the cells and their ± are (markdown lines)."""
    if int(opts.num_seeds) < 2:
        return []
    s = int(opts.num_noise_seeds)
    value = "mean over the noise draws" if s else "zero-noise value"
    noise = ("± = std of the set mean over the noise draws, averaged over the training seeds"
             if s > 1 else "no ± over noise draws")
    return [f"Cells: {value}, then mean over the {opts.num_seeds} training seeds; {noise}; "
            "the *std over training seeds* columns: std (ddof 1) of the per-seed values.", ""]


def publish_features(workdir, spec: TableSpec, evals: dict) -> list:
    """Copies each run's ``eval/eval_features.npz`` to
    ``WORKDIR/eval_features/<variant>_seed<k>.npz`` (the published layout, next to
    results.md); runs without identity features have none. Returns the paths."""
    out = []
    for v in spec.variants:
        for seed, ev in enumerate(evals.get(v.name, [])):
            src = Path(ev.train.get("run_dir", "")) / "eval" / "eval_features.npz"
            if ev.zero.features is not None and src.is_file():  # written by this evaluation
                dst = Path(workdir) / "eval_features" / f"{v.name}_seed{seed}.npz"
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dst)
                out.append(dst)
    return out


def _draw_rows(spec: TableSpec, evals: dict) -> list:
    out = []
    for v in spec.variants:
        for seed, ev in enumerate(evals.get(v.name, [])):
            for label, sc in ev.scores:
                row = {"variant": v.label, "training_seed": seed, "evaluation": label}
                row.update({k: sc.value(k) for k in ALL_KEYS})
                row.update({f"{k}_per_degradation": " ".join(f"{x:.6f}" for x in sc.per_d[k])
                            for k in IDENTITY_METRICS if k in sc.per_d})
                out.append(row)
    return out


def _grid(path, evalset, variants, evals, faces: int = 3):
    """Input | each variant | GT for the first faces (degradation 0)."""
    rows = [[evalset.degraded[0, i]] + [evals[v.name][0].sample[0, i] for v in variants]
            + [evalset.target[i]] for i in range(min(faces, evalset.num_faces))]
    return reports.save_labeled_grid(path, rows, ["input"] + [v.label for v in variants] + ["GT"])
