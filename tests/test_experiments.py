"""End-to-end tests of the paper-table drivers (experiments/*.py).

Each driver runs in-process through its ``run_experiment`` on the 32 px
``test`` preset with 2 training steps, 4 evaluation faces x 2 degradations
and 2 noise draws. Training is the expensive part (~15 s per run on 2 cores),
so only the two skip-ablation runs are trained; noise_diversity and
bfr_comparison reuse them, and alpha_sweep / adv_augmentation get copies of
the ``num_skips = 2`` run (the test preset's model) whose config.json is
rewritten to their variant, which exercises reuse, evaluation and reports.
Real training of those two drivers is in the slow test.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
TRAIN_DIR = REPO / "data" / "train"
VAL_DIR = REPO / "data" / "val"

pytestmark = pytest.mark.skipif(not (TRAIN_DIR.is_dir() and VAL_DIR.is_dir()),
                                reason=f"bundled faces missing under {REPO / 'data'}")


def _opts(workdir, **kw):
    from experiments.options import ExpOptions

    base = dict(workdir=str(workdir), preset="test", data_dir=str(TRAIN_DIR),
                eval_dir=str(VAL_DIR), steps=2, num_seeds=1, strategy="one_device",
                num_eval_faces=4, num_eval_degradations=2, num_noise_seeds=2, id_net="none",
                metrics=("psnr", "ssim", "lpips", "fid", "ipr"), progress=False)
    base.update(kw)
    return ExpOptions(**base)


def _run(fn, *args, **kw):
    """Calls fn, returning (result, captured stdout)."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        res = fn(*args, **kw)
    return res, buf.getvalue()


def _csv_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _ckpt_state(workdir):
    return {str(p): p.stat().st_mtime_ns for p in Path(workdir).rglob("checkpoints/*")}


def _clone_run(src, dst, cfg):
    """A copy of a trained run directory relabelled as another variant's run."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("eval"))
    (Path(dst) / "config.json").write_text(json.dumps(cfg.to_dict()))


@pytest.fixture(scope="module")
def skip_run(tmp_path_factory):
    from experiments import skip_ablation

    workdir = tmp_path_factory.mktemp("skip_ablation")
    opts = _opts(workdir, id_net="dlib")
    res, out = _run(skip_ablation.run_experiment, opts, (0, 2, 6))
    return workdir, opts, res, out


def test_skip_ablation_writes_table(skip_run):
    workdir, _, res, out = skip_run
    assert out.count("training ") == 2  # n=0 and n=2; n=6 is impossible at 32 px
    rows = _csv_rows(workdir / "results.csv")
    assert [r["variant"] for r in rows] == ["n=0", "n=2", "n=6", "input (degraded)"]
    assert rows[2]["status"].startswith("skipped") and "2 skip node" in rows[2]["status"]
    for r in rows[:2]:
        assert r["status"] == "ok" and r["steps"] == "2" and r["noise_draws"] == "2"
        assert r["eval_faces"] == "4" and r["eval_degradations"] == "2"
        assert 0.0 < float(r["psnr"]) < 60.0 and 0.0 < float(r["ssim"]) <= 1.0
        assert float(r["psnr_std_noise"]) >= 0.0 and r["psnr_zero_noise"] != ""
        assert r["psnr_std_seeds"] == ""  # one training seed: no std over seeds
        assert 0.0 <= float(r["iprecision"]) <= 1.0  # dlib ran
        assert r["lpips"] == "" and r["fid"] == ""  # no pretrained weights: never faked
    md = (workdir / "results.md").read_text()
    assert "Paper (quoted), Table 6" in md and "27.43 ± 0.03" in md
    assert "PSNR↑ (mean ± std of the set mean over noise draws)" in md and "PSNR↑ zero noise" in md
    assert "PSNR std over draws per input" in md
    assert "N vs N" in md and "preset: `test`" in md and "code commit" in md
    assert "lpips: MissingWeightsError" in md and "fid: MissingWeightsError" in md
    assert "| n=6 | skipped |" in md
    for name in ("fig9_grid.png", "table6_plot.png"):
        assert (workdir / name).stat().st_size > 0
    ev = workdir / "skips0" / "seed0" / "eval"
    for folder in ("zero_noise", "noise_draw0", "noise_draw1"):
        assert len(list((ev / folder).glob("*__d[01].png"))) == 8


def test_identity_numbers_equal_brute_force_from_saved_features(skip_run):
    from faceres_tf.metrics.algorithm1 import algorithm1

    workdir, _, _, _ = skip_run
    draws = _csv_rows(workdir / "results_draws.csv")
    summary = {r["variant"]: r for r in _csv_rows(workdir / "results.csv")}
    for n in (0, 2):
        with np.load(workdir / f"skips{n}" / "seed0" / "eval" / "eval_features.npz") as z:
            real, zero, noisy, k = z["real"], z["restored"], z["restored_draws"], int(z["k"])
            assert real.shape == (4, 128) and zero.shape == (2, 4, 128) and k == 3
            assert noisy.shape == (2, 2, 4, 128) and list(z["names"]) == sorted(z["names"])
        per_eval = {"zero": zero, "draw0": noisy[0], "draw1": noisy[1]}
        rows = {r["evaluation"]: r for r in draws if r["variant"] == f"n={n}"}
        for label, restored in per_eval.items():
            want = [algorithm1(real, restored[d], k=k)["iprecision"] for d in range(2)]
            got = [float(v) for v in rows[label]["iprecision_per_degradation"].split()]
            assert got == pytest.approx(want, abs=1e-6), (n, label)
            assert float(rows[label]["iprecision"]) == pytest.approx(np.mean(want), abs=1e-9)
        row = summary[f"n={n}"]
        draw_vals = [float(rows[f"draw{s}"]["iprecision"]) for s in range(2)]
        assert float(row["iprecision"]) == pytest.approx(np.mean(draw_vals))
        assert float(row["iprecision_std_noise"]) == pytest.approx(np.std(draw_vals, ddof=1))
        zero = float(rows["zero"]["iprecision"])
        assert float(row["iprecision_zero_noise"]) == pytest.approx(zero)
        psnrs = [float(rows[f"draw{s}"]["psnr"]) for s in range(2)]
        assert float(row["psnr_std_noise"]) == pytest.approx(np.std(psnrs, ddof=1))
        assert float(row["psnr_std_noise_per_image"]) >= 0.0


def test_skip_ablation_rerun_reuses(skip_run):
    from experiments import skip_ablation

    workdir, opts, first, _ = skip_run
    before = _ckpt_state(workdir)
    res, out = _run(skip_ablation.run_experiment, opts, (0, 2))
    assert out.count("reusing finished run") == 2 and "training " not in out
    assert _ckpt_state(workdir) == before
    # same inputs, same generator, same noise seeds -> the same numbers
    for key in ("psnr", "psnr_zero_noise", "iprecision"):
        assert res["rows"][0][key] == pytest.approx(first["rows"][0][key], abs=1e-9)


def test_noise_diversity_reuses_skip_runs(skip_run):
    from experiments import noise_diversity

    workdir, _, _, _ = skip_run
    before = _ckpt_state(workdir)
    res, out = _run(noise_diversity.run_experiment, _opts(workdir), (0, 2, 6))
    assert "training " not in out and out.count("reusing finished run") == 2
    assert _ckpt_state(workdir) == before
    rows = _csv_rows(workdir / "noise_results.csv")
    assert [r["variant"] for r in rows] == ["n=0", "n=2", "n=6"]
    for r in rows[:2]:
        assert float(r["pixel_std"]) >= 0.0 and r["pairwise_lpips"] == ""
    # the test preset starts the noise strength at 0.1, so the draws differ
    assert float(rows[0]["pixel_std"]) > 0.0
    md = (workdir / "noise_results.md").read_text()
    assert "pairwise_lpips: MissingWeightsError" in md and "--id_net=none" in md
    assert (workdir / "results.md").read_text().startswith("# Table 6")  # not overwritten
    assert (workdir / "fig10_grid.png").stat().st_size > 0


def test_alpha_sweep_and_adv_aug_tables(skip_run, tmp_path):
    from experiments import adv_augmentation, alpha_sweep
    from experiments.options import base_config, variant_config
    from experiments.runs import run_dir_of

    workdir, _, _, _ = skip_run
    src = workdir / "skips2" / "seed0"  # the test preset's own model (num_skips = 2)
    a_dir = tmp_path / "alpha"
    opts = _opts(a_dir, num_noise_seeds=0)
    cfg0 = base_config(opts)
    for a in (0.1, 1.0):
        _clone_run(src, run_dir_of(a_dir, alpha_sweep.variant_name(a), 0),
                   variant_config(cfg0, {"loss.alpha": a}, 0))
    res, out = _run(alpha_sweep.run_experiment, opts, (0.1, 1.0))
    assert "training " not in out and out.count("reusing") == 2
    rows = _csv_rows(a_dir / "results.csv")
    assert [r["variant"] for r in rows] == ["alpha0.1", "alpha1", "input (degraded)"]
    assert [r["alpha"] for r in rows[:2]] == ["0.1", "1.0"]
    assert rows[0]["noise_draws"] == "0" and rows[0]["psnr"] == rows[0]["psnr_zero_noise"]
    md = (a_dir / "results.md").read_text()
    assert "appendix C.4" in md and "| alpha0.1 |" in md and "PSNR↑ (zero noise)" in md
    assert (a_dir / "plot.png").stat().st_size > 0

    t_dir = tmp_path / "adv"
    for name, on in (("adv_aug_off", False), ("adv_aug_on", True)):
        _clone_run(src, run_dir_of(t_dir, name, 0), variant_config(cfg0, {"loss.adv_aug": on}, 0))
    res, out = _run(adv_augmentation.run_experiment, _opts(t_dir, num_seeds=1))
    assert "training " not in out
    rows = _csv_rows(t_dir / "results.csv")
    assert [r["adv_aug"] for r in rows[:2]] == ["N", "Y"] and len(rows) == 3
    md = (t_dir / "results.md").read_text()
    assert "Paper (quoted), Table 7" in md and "26.89" in md
    # identical weights and noise seeds -> identical scores for the two relabelled copies
    assert rows[0]["psnr"] == rows[1]["psnr"] and rows[0]["psnr_std_noise"] != ""


def test_reuse_refuses_a_different_config(skip_run, tmp_path):
    from experiments.cli import UserError
    from experiments.options import base_config, variant_config
    from experiments.runs import plan_run

    workdir, _, _, _ = skip_run
    cfg0 = base_config(_opts(tmp_path))
    _clone_run(workdir / "skips2" / "seed0", tmp_path / "x" / "seed0",
               variant_config(cfg0, {"loss.alpha": 1.0}, 0))
    with pytest.raises(UserError, match="different configuration"):
        plan_run("x", 0, variant_config(cfg0, {"loss.alpha": 0.3}, 0), tmp_path)


def test_runs_of_plain_train_command_are_reused_by_the_table_drivers(tmp_path):
    # faceres-train --preset=P --workdir=W/skips<n>/seed<k> --set=model.num_skips=n
    # --seed=k (other --val_dir, --steps) is the same model as skip_ablation's variant
    from experiments.options import base_config, variant_config
    from experiments.runs import comparable
    from faceres_tf.run_config import resolve_config

    for preset, n in (("test", 1), ("cpu_128", 4)):
        trained = resolve_config(preset, [f"model.num_skips={n}"], data_dir="/d/train",
                                 val_dir="/d/val", steps=1000, seed=0)
        table = variant_config(base_config(_opts(tmp_path, preset=preset, data_dir="/d/train",
                                                 eval_dir="/x", steps=1500)),
                               {"model.num_skips": n}, 0)
        assert comparable(trained.to_dict()) == comparable(table.to_dict())
        other = variant_config(table, {"loss.alpha": 0.5}, 0)
        assert comparable(trained.to_dict()) != comparable(other.to_dict())


def test_bfr_comparison_scores_methods(skip_run, tmp_path):
    from experiments import bfr_comparison
    from experiments.cli import UserError

    workdir, _, _, _ = skip_run
    other = tmp_path / "other_method"
    shutil.copytree(workdir / "skips0" / "seed0" / "eval" / "zero_noise", other)
    (other / sorted(os.listdir(other))[0]).unlink()  # one output missing
    res, out = _run(bfr_comparison.run_experiment, _opts(tmp_path / "t8"),
                    run_dir=workdir / "skips2" / "seed0", methods={"copy": str(other)})
    assert "training " not in out
    rows = _csv_rows(tmp_path / "t8" / "results.csv")
    assert [r["method"] for r in rows] == ["RDFR (ours, this run)", "copy", "input (degraded)"]
    assert rows[0]["images"] == "8" and rows[1]["images"] == "7"
    assert rows[0]["psnr_std_noise"] != ""  # ours: mean ± std over noise draws
    # "copy" is the n = 0 model's zero-noise output: its PSNR is that run's, up to the missing file
    n0 = _csv_rows(workdir / "results.csv")[0]
    assert abs(float(rows[1]["psnr"]) - float(n0["psnr_zero_noise"])) < 1.0
    md = (tmp_path / "t8" / "results.md").read_text()
    assert "Paper (quoted), Table 8" in md and "76.41" in md and "copy: 1 of 8 inputs" in md
    assert len(list((tmp_path / "t8" / "eval_inputs" / "degraded").glob("*.png"))) == 8
    assert len(list((tmp_path / "t8" / "eval_inputs" / "gt").glob("*.png"))) == 4
    with pytest.raises(UserError, match="not a folder"):
        bfr_comparison.parse_methods([f"x={tmp_path / 'nope'}"])


@pytest.mark.slow
def test_alpha_sweep_and_adv_aug_train_from_scratch(tmp_path):
    from experiments import adv_augmentation, alpha_sweep

    res, out = _run(alpha_sweep.run_experiment, _opts(tmp_path / "a"), (0.1, 1.0))
    assert out.count("training ") == 2
    assert len(_csv_rows(tmp_path / "a" / "results.csv")) == 3
    res, out = _run(adv_augmentation.run_experiment, _opts(tmp_path / "t"))
    assert out.count("training ") == 2
    assert len(_csv_rows(tmp_path / "t" / "results.csv")) == 3
