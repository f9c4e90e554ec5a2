"""End-to-end tests of the paper-table experiment scripts (experiments/*.py).

Each script runs in-process through its ``run_experiment`` on the 32 px
``test`` preset with 2 training steps, 4 evaluation faces x 2 degradations.
Training is the expensive part (~15 s per run on 2 cores), so the fast tests
train only the two skip-ablation runs; the others reuse them: noise_diversity
and bfr_comparison use the same run directories, and alpha_sweep /
adv_augmentation get copies of the ``num_skips = 2`` run (the test preset's
model) whose config.json is rewritten to their variant, which exercises the
reuse / evaluation / report path. Real training of those two scripts is in
the slow test.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
TRAIN_DIR = REPO / "data" / "train"
VAL_DIR = REPO / "data" / "val"

pytestmark = pytest.mark.skipif(not (TRAIN_DIR.is_dir() and VAL_DIR.is_dir()),
                                reason=f"bundled faces missing under {REPO / 'data'}")


def _opts(workdir, **kw):
    from experiments.common import ExpOptions

    base = dict(workdir=str(workdir), preset="test", data_dir=str(TRAIN_DIR),
                eval_dir=str(VAL_DIR), steps=2, num_seeds=1, strategy="one_device",
                num_eval_faces=4, num_eval_degradations=2, id_net="none",
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
    shutil.copytree(src, dst)
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
    assert [r["variant"] for r in rows] == ["n=0", "n=2", "n=6", "degraded input"]
    assert rows[2]["status"].startswith("skipped") and "2 skip node" in rows[2]["status"]
    for r in rows[:2]:
        assert r["status"] == "ok" and r["steps"] == "2" and r["eval_images"] == "8"
        assert 0.0 < float(r["psnr_mean"]) < 60.0 and 0.0 < float(r["ssim"]) <= 1.0
        assert 0.0 <= float(r["iprecision"]) <= 1.0  # dlib ran
        assert r["lpips"] == "" and r["fid"] == ""  # no pretrained weights: never faked
    md = (workdir / "results.md").read_text()
    assert "Paper (quoted), Table 6" in md and "27.43 ± 0.03" in md
    assert "preset: `test`" in md and "code commit" in md
    assert "lpips: MissingWeightsError" in md and "fid: MissingWeightsError" in md
    assert "| 6 | skipped |" in md
    for name in ("fig9_grid.png", "table6_plot.png"):
        assert (workdir / name).stat().st_size > 0
    ev = workdir / "skips0" / "seed0" / "eval"
    assert len(list((ev / "restored").glob("*.png"))) == 8
    assert len(list((ev / "gt").glob("*.png"))) == 8
    assert len(list((ev / "degraded").glob("*.png"))) == 8


def test_skip_ablation_rerun_reuses(skip_run):
    from experiments import skip_ablation

    workdir, opts, first, _ = skip_run
    before = _ckpt_state(workdir)
    res, out = _run(skip_ablation.run_experiment, _opts(workdir), (0, 2))
    assert out.count("reusing finished run") == 2 and "training " not in out
    assert _ckpt_state(workdir) == before
    # same inputs, same generator -> the same PSNR
    assert res["rows"][0]["psnr_mean"] == pytest.approx(first["rows"][0]["psnr_mean"], abs=1e-9)


def test_noise_diversity_reuses_skip_runs(skip_run):
    from experiments import noise_diversity

    workdir, _, _, _ = skip_run
    before = _ckpt_state(workdir)
    res, out = _run(noise_diversity.run_experiment, _opts(workdir), (0, 2, 6), 2)
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
    from experiments import adv_augmentation, alpha_sweep, common

    workdir, _, _, _ = skip_run
    src = workdir / "skips2" / "seed0"  # the test preset's own model (num_skips = 2)
    a_dir = tmp_path / "alpha"
    opts = _opts(a_dir)
    cfg0 = common.base_config(opts)
    for a in (0.1, 1.0):
        _clone_run(src, common.run_dir_of(a_dir, alpha_sweep.variant_name(a), 0),
                   common.variant_config(cfg0, {"loss.alpha": a}, 0))
    res, out = _run(alpha_sweep.run_experiment, opts, (0.1, 1.0))
    assert "training " not in out and out.count("reusing") == 2
    rows = _csv_rows(a_dir / "results.csv")
    assert [r["variant"] for r in rows] == ["alpha0.1", "alpha1", "degraded input"]
    assert [r["alpha"] for r in rows[:2]] == ["0.1", "1.0"]
    md = (a_dir / "results.md").read_text()
    assert "appendix C.4" in md and "| alpha0.1 |" in md
    assert (a_dir / "plot.png").stat().st_size > 0

    t_dir = tmp_path / "adv"
    for name, on in (("adv_aug_off", False), ("adv_aug_on", True)):
        _clone_run(src, common.run_dir_of(t_dir, name, 0),
                   common.variant_config(cfg0, {"loss.adv_aug": on}, 0))
    res, out = _run(adv_augmentation.run_experiment, _opts(t_dir))
    assert "training " not in out
    rows = _csv_rows(t_dir / "results.csv")
    assert [r["adv_aug"] for r in rows[:2]] == ["N", "Y"] and len(rows) == 3
    md = (t_dir / "results.md").read_text()
    assert "Paper (quoted), Table 7" in md and "26.89" in md
    # identical weights -> identical scores for the two relabelled copies
    assert rows[0]["psnr"] == rows[1]["psnr"]


def test_reuse_refuses_a_different_config(skip_run, tmp_path):
    from experiments import common

    workdir, _, _, _ = skip_run
    opts = _opts(tmp_path)
    cfg = common.variant_config(common.base_config(opts), {"loss.alpha": 0.3}, 0)
    dst = tmp_path / "x" / "seed0"
    _clone_run(workdir / "skips2" / "seed0", dst,
               common.variant_config(common.base_config(opts), {"loss.alpha": 1.0}, 0))
    with pytest.raises(ValueError, match="different configuration"):
        common.ensure_trained(cfg, dst, opts)


def test_bfr_comparison_scores_methods(skip_run, tmp_path):
    from experiments import bfr_comparison

    workdir, _, _, _ = skip_run
    other = tmp_path / "other_method"
    shutil.copytree(workdir / "eval_inputs" / "degraded", other)  # an "identity" method
    (other / sorted(os.listdir(other))[0]).unlink()  # one output missing
    res, out = _run(bfr_comparison.run_experiment, _opts(tmp_path / "t8"),
                    run_dir=workdir / "skips2" / "seed0", methods={"copy": str(other)})
    assert "training " not in out
    rows = _csv_rows(tmp_path / "t8" / "results.csv")
    assert [r["method"] for r in rows] == ["RDFR (ours, this run)", "copy", "input (degraded)"]
    assert rows[0]["n_pairs"] == "8" and rows[1]["n_pairs"] == "7"
    assert rows[1]["unmatched_gt"] == "1"
    # the "copy" method is the degraded input itself: same PSNR on the shared pairs
    assert abs(float(rows[1]["psnr"]) - float(rows[2]["psnr"])) < 1.0
    md = (tmp_path / "t8" / "results.md").read_text()
    assert "Paper (quoted), Table 8" in md and "76.41" in md and "copy: 1 missing" in md
    with pytest.raises(ValueError, match="not a folder"):
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
