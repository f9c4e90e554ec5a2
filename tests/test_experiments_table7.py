"""Table 7 and C.4 with several training seeds (experiments/adv_augmentation.py,
alpha_sweep.py): the statistics over seeds and noise draws, their labels, the
published identity features, the equal step budget, reuse and resume.

The runs are untrained ``test``-preset generators (tests/run_dirs.py), one
per arm and seed, built from different random seeds so that the seeds
differ; their config.json is the variant's, so the drivers reuse them as
finished runs (no training). Only the resume test trains (2 steps of one run).
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
TRAIN_DIR = REPO / "data" / "train"
VAL_DIR = REPO / "data" / "val"
ARMS = {"adv_aug_off": {"loss.adv_aug": False}, "adv_aug_on": {"loss.adv_aug": True}}

pytestmark = pytest.mark.skipif(not (TRAIN_DIR.is_dir() and VAL_DIR.is_dir()),
                                reason=f"bundled faces missing under {REPO / 'data'}")


def _opts(workdir, **kw):
    from experiments.options import ExpOptions

    base = dict(workdir=str(workdir), preset="test", data_dir=str(TRAIN_DIR),
                eval_dir=str(VAL_DIR), steps=1, num_seeds=2, strategy="one_device",
                num_eval_faces=4, num_eval_degradations=2, num_noise_seeds=2, id_net="dlib",
                metrics=("psnr", "ssim", "lpips", "ipr"), progress=False)
    base.update(kw)
    return ExpOptions(**base)


def _run(fn, *args, **kw):
    """Calls fn, returning (result, captured stdout)."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        res = fn(*args, **kw)
    return res, buf.getvalue()


def _trained(out: str) -> int:
    """How many runs the driver trained (its "training <run_dir>: ..." lines)."""
    return sum(line.startswith("training ") for line in out.splitlines())


def _csv_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _ckpt_state(workdir):
    return {str(p): p.stat().st_mtime_ns for p in Path(workdir).rglob("checkpoints/*")}


def _place_run(workdir, variant, seed, updates, opts, checkpoints=1, weights_seed=None):
    """An untrained generator at ``WORKDIR/<variant>/seed<seed>`` (latest
    checkpoint ckpt-<checkpoints>) whose config.json is that variant's."""
    from run_dirs import make_run_dir

    from experiments.options import base_config, variant_config
    from experiments.runs import run_dir_of

    tmp = Path(workdir) / "_build" / f"{variant}_{seed}"
    src = make_run_dir(tmp, seed=seed if weights_seed is None else weights_seed,
                       checkpoints=checkpoints)
    dst = run_dir_of(workdir, variant, seed)
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(src, dst)
    shutil.rmtree(tmp)
    cfg = variant_config(base_config(opts), updates, seed)
    (dst / "config.json").write_text(cfg.to_json())
    return dst


@pytest.fixture(scope="module")
def table7(tmp_path_factory):
    from experiments import adv_augmentation

    workdir = tmp_path_factory.mktemp("table7")
    opts = _opts(workdir)
    for i, (name, updates) in enumerate(ARMS.items()):
        for seed in (0, 1):
            _place_run(workdir, name, seed, updates, opts, weights_seed=10 * i + seed)
    res, out = _run(adv_augmentation.run_experiment, opts)
    return workdir, opts, res, out


def test_table7_reports_mean_and_std_over_seeds_and_over_draws(table7):
    workdir, _, _, out = table7
    assert out.count("reusing finished run") == 4 and _trained(out) == 0
    rows = {r["variant"]: r for r in _csv_rows(workdir / "results.csv")}
    assert list(rows) == ["N", "Y", "input (degraded)"]
    draws = _csv_rows(workdir / "results_draws.csv")
    assert len(draws) == 2 * 2 * 3  # arms x seeds x (zero noise, draw0, draw1)
    for arm in ("N", "Y"):
        r = rows[arm]
        assert r["status"] == "ok" and r["seeds"] == "2" and r["noise_draws"] == "2"
        assert r["steps"] == "1" and r["eval_faces"] == "4" and r["eval_degradations"] == "2"
        for key in ("psnr", "ssim", "iprecision"):
            mine = [d for d in draws if d["variant"] == arm]
            per_seed = [[float(d[key]) for d in mine if d["training_seed"] == str(s)
                         and d["evaluation"].startswith("draw")] for s in (0, 1)]
            assert float(r[key]) == pytest.approx(np.mean([np.mean(v) for v in per_seed]))
            assert float(r[f"{key}_std_seeds"]) == pytest.approx(
                np.std([np.mean(v) for v in per_seed], ddof=1), abs=1e-12)
            assert float(r[f"{key}_std_noise"]) == pytest.approx(
                np.mean([np.std(v, ddof=1) for v in per_seed]), abs=1e-12)
        # different random generators per seed: the seeds really differ
        assert float(r["psnr_std_seeds"]) > 0.0
        assert r["lpips"] == "" and r["fid"] == ""  # no weights here: n/a, never faked
    md = (workdir / "results.md").read_text()
    assert "PSNR↑ (mean ± std of the set mean over noise draws)" in md
    assert "PSNR std over training seeds" in md and "SSIM std over training seeds" in md
    assert "LPIPS std over training seeds" in md
    assert "Cells: mean over the noise draws, then mean over the 2 training seeds" in md
    assert "training seeds per variant: 2" in md and "lpips: MissingWeightsError" in md
    assert "Paper (quoted), Table 7" in md and "26.89" in md


def test_table7_effect_beside_the_papers(table7):
    from experiments import adv_augmentation

    workdir, _, res, _ = table7
    ok = [r for r in res["rows"] if r["status"] == "ok"]
    n, y = ok
    e = adv_augmentation.effect(ok, "psnr")
    assert e["diff"] == pytest.approx(y["psnr"] - n["psnr"])
    assert e["se_seeds"] == pytest.approx(
        np.sqrt(n["psnr_std_seeds"] ** 2 / 2 + y["psnr_std_seeds"] ** 2 / 2))
    assert adv_augmentation.effect(ok, "lpips") == {"diff": None, "se_seeds": None}
    md = (workdir / "results.md").read_text()
    assert "Effect of the augmentation, Y − N" in md
    table = md.split("Effect of the augmentation")[1].split("## Paper")[0]
    assert f"| PSNR↑ | {e['diff']:+.2f} |" in table and "| +0.41 |" in table
    assert "| LPIPS↓ | n/a | n/a | -0.0122 |" in table  # the paper's slot stays visible


def test_table7_publishes_identity_features_per_run(table7):
    from experiments.scoring import identity_scores_from_features

    workdir, _, res, _ = table7
    draws = _csv_rows(workdir / "results_draws.csv")
    assert sorted(p.name for p in (workdir / "eval_features").iterdir()) == [
        "adv_aug_off_seed0.npz", "adv_aug_off_seed1.npz", "adv_aug_on_seed0.npz",
        "adv_aug_on_seed1.npz"]
    assert len(res["features"]) == 4
    for name, arm in (("adv_aug_off", "N"), ("adv_aug_on", "Y")):
        for seed in (0, 1):
            with np.load(workdir / "eval_features" / f"{name}_seed{seed}.npz") as z:
                real, noisy, k = z["real"], z["restored_draws"], int(z["k"])
                assert noisy.shape[:3] == (2, 2, 4) and str(z["id_net"]) == "dlib"
            row = next(d for d in draws if d["variant"] == arm and d["evaluation"] == "draw1"
                       and d["training_seed"] == str(seed))
            got = identity_scores_from_features(real, noisy[1], k)["iprecision"]
            want = [float(v) for v in row["iprecision_per_degradation"].split()]
            assert list(got) == pytest.approx(want, abs=1e-6)


def test_table7_rerun_skips_finished_runs(table7):
    from experiments import adv_augmentation

    workdir, opts, first, _ = table7
    before = _ckpt_state(workdir)
    res, out = _run(adv_augmentation.run_experiment, opts)
    assert out.count("reusing finished run") == 4 and _trained(out) == 0
    assert _ckpt_state(workdir) == before
    for a, b in zip(first["rows"], res["rows"]):
        assert a.get("psnr") == pytest.approx(b.get("psnr"), abs=1e-9)


def test_unequal_step_budgets_are_refused_before_anything_is_written(tmp_path):
    from experiments import adv_augmentation
    from experiments.cli import UserError

    opts = _opts(tmp_path)  # --steps=1
    _place_run(tmp_path, "adv_aug_on", 0, ARMS["adv_aug_on"], opts, checkpoints=2)
    with pytest.raises(UserError, match=r"step 2 > --steps=1: .*unequal training budgets; "
                                        r"pass --steps=2"):
        adv_augmentation.run_experiment(opts)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["_build", "adv_aug_on"]
    assert not (tmp_path / "adv_aug_on" / "seed0" / "eval").exists()


def test_alpha_sweep_reuses_the_table7_run_through_a_symlink(table7, tmp_path):
    # at the preset's alpha (test: 1.0; cpu_128: 0.1), adv_aug on, seed 0, the C.4 run
    # is Table 7's Y seed 0: a symlink reuses it (experiments/README.md)
    from experiments import alpha_sweep

    workdir, _, _, _ = table7
    a_dir = tmp_path / "alpha"
    opts = _opts(a_dir, num_seeds=1)
    (a_dir / "alpha1").mkdir(parents=True)
    os.symlink(workdir / "adv_aug_on" / "seed0", a_dir / "alpha1" / "seed0")
    _place_run(a_dir, "alpha0.1", 0, {"loss.alpha": 0.1}, opts, weights_seed=7)
    res, out = _run(alpha_sweep.run_experiment, opts, (0.1, 1.0))
    assert out.count("reusing finished run") == 2 and _trained(out) == 0
    rows = _csv_rows(a_dir / "results.csv")
    assert [r["variant"] for r in rows] == ["alpha0.1", "alpha1", "input (degraded)"]
    assert rows[1]["psnr_std_seeds"] == "" and rows[1]["noise_draws"] == "2"
    y0 = [d for d in _csv_rows(workdir / "results_draws.csv")
          if d["variant"] == "Y" and d["training_seed"] == "0" and d["evaluation"] == "draw0"]
    a1 = [d for d in _csv_rows(a_dir / "results_draws.csv")
          if d["variant"] == "alpha1" and d["evaluation"] == "draw0"]
    assert float(a1[0]["psnr"]) == pytest.approx(float(y0[0]["psnr"]), abs=1e-9)
    md = (a_dir / "results.md").read_text()
    assert alpha_sweep.PAPER_QUOTE in md and "std over training seeds" not in md
    assert (a_dir / "eval_features" / "alpha0.1_seed0.npz").is_file()


@pytest.mark.slow
def test_table7_resumes_an_interrupted_run(tmp_path, monkeypatch):
    import faceres_tf.training as training
    from experiments import adv_augmentation
    from experiments.cli import Interrupted

    opts = _opts(tmp_path, steps=2, id_net="none", metrics=("psnr",), num_eval_faces=2)
    for name, seed in (("adv_aug_off", 0), ("adv_aug_off", 1), ("adv_aug_on", 0)):
        _place_run(tmp_path, name, seed, ARMS[name], opts, checkpoints=2)
    real_train = training.train

    def stopped_after_one_step(*args, **kw):
        return real_train(*args, **dict(kw, stop_after=1))

    monkeypatch.setattr(training, "train", stopped_after_one_step)
    with pytest.raises(Interrupted, match="stopped at step 1"):
        _run(adv_augmentation.run_experiment, opts)
    assert not (tmp_path / "results.md").exists()
    monkeypatch.setattr(training, "train", real_train)
    before = _ckpt_state(tmp_path / "adv_aug_off")
    res, out = _run(adv_augmentation.run_experiment, opts)
    assert out.count("reusing finished run") == 3
    assert f"training {tmp_path / 'adv_aug_on' / 'seed1'}: step 1 -> 2" in out
    assert _ckpt_state(tmp_path / "adv_aug_off") == before
    assert [r["steps"] for r in _csv_rows(tmp_path / "results.csv")[:2]] == ["2", "2"]
