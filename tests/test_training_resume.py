"""Starting and resuming training safely (faceres_tf.training.resume, with
checkpoint.py, run_dir.py and run_lock.py): never lose a run. Resume from
damaged checkpoint folders, one training per run directory, config changes on
resume, superseded records, user errors of the training CLI.

Most cases work on a copy of one small run directory whose checkpoints are
written by the real Trainer (``Trainer.save``) without training steps, and
call :func:`faceres_tf.training.train` in-process with ``steps`` equal to the
step it should resume at (restore, checks and records run; no step is
trained). The lock and kill -9 cases run the real driver in subprocesses.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from faceres_tf import presets
from faceres_tf import train as train_command
from faceres_tf.config import Config, override
from faceres_tf.errors import ConfigChangedError, RunDirError, RunLockedError
from faceres_tf.training import Trainer, load_generator, train
from faceres_tf.training import checkpoint as ckpt_lib
from faceres_tf.training import run_dir as rd
from faceres_tf.training.run_lock import LOCK_NAME, RunLock

REPO = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
STEPS = 3  # checkpoints ckpt-1 .. ckpt-3 in the base run


def _cfg(tmp_root: Path, **updates) -> Config:
    base = {"data.train_dir": str(REPO / "data" / "train"),
            "data.val_dir": str(tmp_root / "no_validation_set")}  # no eval: nothing is traced
    return override(presets.get("test"), {**base, **updates})


def _ema_value(trainer) -> np.ndarray:
    return trainer.G_ema.weights[0].numpy()


@pytest.fixture(scope="module")
def base_run(tmp_path_factory):
    """A run dir as the trainer writes it: config.json, run_info.json,
    metrics.jsonl (steps 1-3), checkpoints ckpt-1..3 with distinct weights."""
    root = tmp_path_factory.mktemp("base")
    cfg = _cfg(root)
    workdir = root / "run"
    rd.ensure_layout(workdir)
    trainer = Trainer(cfg, workdir, tf.distribute.get_strategy())
    trainer.restore_checkpoint()
    rd.record_session(workdir, cfg.to_dict(), 0, {})
    writer = rd.MetricsWriter(workdir)
    first = trainer.G_ema.weights[0]
    for step in range(1, STEPS + 1):
        trainer.step.assign(step)
        first.assign(tf.fill(first.shape, float(step)))  # ckpt-k holds the value k
        trainer.save()
        writer.write({"step": step, "g_loss": 1.0 / step})
    return root, cfg


@pytest.fixture
def run(base_run, tmp_path):
    root, cfg = base_run
    workdir = tmp_path / "run"
    shutil.copytree(root / "run", workdir)
    return workdir, _cfg(root)


def _files(ckpt_dir: Path) -> dict:
    return {p.name: p.read_bytes() for p in ckpt_dir.iterdir() if p.name.startswith("ckpt-")}


# --------------------------------------------------------------- the checkpoint index
@pytest.mark.parametrize("damage", ["deleted", "garbled_text", "garbled_bytes"])
def test_missing_or_garbled_index_resumes_from_newest_checkpoint(run, damage, caplog):
    workdir, cfg = run
    ckdir = workdir / "checkpoints"
    before = _files(ckdir)
    index = ckdir / "checkpoint"
    if damage == "deleted":
        index.unlink()
    elif damage == "garbled_text":
        index.write_text('model_checkpoint_path: "ckpt-3\nall_model_checkpoint_paths {{{')
    else:
        index.write_bytes(b"\x00\xff\xfe garbage")
    if damage != "garbled_bytes":  # (TensorFlow itself raises UnicodeDecodeError on that one)
        assert tf.train.latest_checkpoint(str(ckdir)) is None  # TF alone would start over

    caplog.set_level(logging.INFO, logger="faceres_tf.train")
    result = train(cfg, workdir, tf.distribute.get_strategy(), steps=STEPS, progress=False)
    assert result.step == STEPS  # resumed, not restarted from 0
    assert f"Resumed from {ckdir.resolve() / 'ckpt-3'} (step 3)" in caplog.text
    assert "Checkpoint index" in caplog.text
    assert _files(ckdir) == before  # no checkpoint was overwritten or deleted
    assert tf.train.latest_checkpoint(str(ckdir)).endswith("ckpt-3")  # index repaired
    info = json.loads((workdir / "run_info.json").read_text())
    assert info["sessions"][-1]["resumed_from_step"] == STEPS
    # the restore / export loader finds it too
    g, _ = load_generator(workdir)
    np.testing.assert_array_equal(g.weights[0].numpy(), np.full(g.weights[0].shape, 3.0))


def test_unreadable_checkpoints_refuse_to_start_over(run):
    workdir, cfg = run
    ckdir = workdir / "checkpoints"
    for p in ckdir.glob("ckpt-*.index"):
        p.write_bytes(b"garbage")
    before = _files(ckdir)
    with pytest.raises(RunDirError, match=r"checkpoints holds 3 checkpoint\(s\) but none can be "
                                          r"read.*Refusing to start over"):
        train(cfg, workdir, tf.distribute.get_strategy(), steps=STEPS + 2, progress=False)
    assert _files(ckdir) == before
    assert not (ckdir / "unusable").exists()


# --------------------------------------------------------------- damaged checkpoints
def test_truncated_newest_checkpoint_falls_back_to_older(run, caplog):
    workdir, cfg = run
    ckdir = workdir / "checkpoints"
    data3 = ckdir / "ckpt-3.data-00000-of-00001"
    with open(data3, "r+b") as f:
        f.truncate(data3.stat().st_size // 2)
    caplog.set_level(logging.INFO, logger="faceres_tf.train")
    result = train(cfg, workdir, tf.distribute.get_strategy(), steps=2, progress=False)
    assert result.step == 2
    assert f"Skipping checkpoint {ckdir.resolve() / 'ckpt-3'}:" in caplog.text
    assert "Moved the unusable ckpt-3" in caplog.text
    moved = sorted(p.name for p in (ckdir / "unusable").iterdir())
    assert [n.rsplit(".", 1)[0] for n in moved] == ["ckpt-3.data-00000-of-00001", "ckpt-3.index"]
    assert not (ckdir / "ckpt-3.index").exists()
    assert tf.train.latest_checkpoint(str(ckdir)).endswith("ckpt-2")
    trainer = Trainer(cfg, workdir, tf.distribute.get_strategy())
    assert trainer.restore_checkpoint() == 2
    np.testing.assert_array_equal(_ema_value(trainer), np.full(_ema_value(trainer).shape, 2.0))


# --------------------------------------------------------------- config changes on resume
def test_config_change_on_resume_is_refused_then_recorded(run):
    workdir, cfg = run
    saved_before = (workdir / "config.json").read_text()
    changed = override(cfg, {"loss.alpha": 0.5, "data.degradation": "sr8"})
    with pytest.raises(ConfigChangedError) as err:
        train(changed, workdir, tf.distribute.get_strategy(), steps=STEPS, progress=False)
    msg = str(err.value)
    assert "data.degradation: 'bfr' -> 'sr8'" in msg and "loss.alpha: 1.0 -> 0.5" in msg
    assert "--allow_config_change" in msg
    assert (workdir / "config.json").read_text() == saved_before  # the record is untouched

    # bookkeeping fields may change freely (resume to a longer total, intervals)
    longer = override(cfg, {"train.steps": 10, "train.log_every": 5})
    train(longer, workdir, tf.distribute.get_strategy(), steps=STEPS, progress=False)
    info = json.loads((workdir / "run_info.json").read_text())
    assert info["config_history"][-1]["changes"]["train.steps"] == {"old": 2, "new": 10}
    assert info["config_history"][-1]["training_fields_changed"] == []

    # an explicit flag accepts the change; it is recorded with its step
    changed = override(cfg, {"loss.alpha": 0.5, "data.degradation": "sr8",
                                      "train.steps": 10, "train.log_every": 5})
    train(changed, workdir, tf.distribute.get_strategy(), steps=STEPS, progress=False,
          allow_config_change=True)
    info = json.loads((workdir / "run_info.json").read_text())
    entry = info["config_history"][-1]
    assert entry["step"] == STEPS
    assert entry["changes"] == {"data.degradation": {"old": "bfr", "new": "sr8"},
                                "loss.alpha": {"old": 1.0, "new": 0.5}}
    assert len(info["config_history"]) == 2 and len(info["sessions"]) == 3
    kept = json.loads((workdir / f"config_until_step_{STEPS}.json").read_text())
    assert kept["loss"]["alpha"] == 1.0 and kept["data"]["degradation"] == "bfr"
    now = json.loads((workdir / "config.json").read_text())
    assert now["loss"]["alpha"] == 0.5 and now["data"]["degradation"] == "sr8"

    # the model can never change: its checkpoints would not fit
    other = override(cfg, {"model.num_skips": 1})
    with pytest.raises(ConfigChangedError, match="different model.*model.num_skips: 2 -> 1"):
        train(other, workdir, tf.distribute.get_strategy(), steps=STEPS, progress=False,
              allow_config_change=True)


def test_config_may_change_before_the_first_checkpoint(run):
    workdir, cfg = run
    changed = override(cfg, {"loss.alpha": 0.5, "model.num_skips": 1})
    with pytest.raises(ConfigChangedError):
        rd.check_resume_config(workdir, changed, has_checkpoints=True)
    # nothing was trained with the saved config yet: a fresh start, recorded
    changes = rd.check_resume_config(workdir, changed, has_checkpoints=False)
    assert changes == {"loss.alpha": (1.0, 0.5), "model.num_skips": (2, 1)}
    # checkpoints but no config.json: unknown config, refused unless allowed
    (workdir / "config.json").unlink()
    with pytest.raises(ConfigChangedError, match="holds checkpoints but no config.json"):
        rd.check_resume_config(workdir, cfg, has_checkpoints=True)
    assert rd.check_resume_config(workdir, cfg, True, has_checkpoints=True) == {}


def test_run_dir_written_by_the_old_code_resumes(run):
    """config.json with "resolved", run_info.json sessions without cwd, no
    lock file: exactly what the previous version wrote."""
    workdir, cfg = run
    old_cfg = cfg.to_dict()
    old_cfg["resolved"] = {"perceptual_weights": "off"}
    rd.write_json(workdir / "config.json", old_cfg)
    rd.write_json(workdir / "run_info.json", {"sessions": [
        {"git_commit": "8677239", "started": "2026-11-30 00:39:54", "strategy": "MirroredStrategy",
         "replicas": 1, "tensorflow": "2.21.0", "keras": "3.15.1"}]})
    assert not (workdir / LOCK_NAME).exists()
    result = train(cfg, workdir, tf.distribute.get_strategy(), steps=STEPS, progress=False)
    assert result.step == STEPS
    assert (workdir / LOCK_NAME).is_file()
    info = json.loads((workdir / "run_info.json").read_text())
    assert len(info["sessions"]) == 2 and "config_history" not in info


# --------------------------------------------------------------- superseded records
def test_resume_supersedes_later_records_and_removes_temporaries(run, caplog):
    workdir, cfg = run
    ckdir = workdir / "checkpoints"
    # what a process killed at step 5 leaves behind: metrics of steps 4-5 past
    # the last checkpoint (3), a line cut short, and a checkpoint save that
    # never finished (TensorFlow writes ckpt-N_temp/ and merges it at the end)
    writer = rd.MetricsWriter(workdir)
    writer.write({"step": 4, "g_loss": 0.4})
    writer.write({"step": 4, "eval": {"psnr_restored": 1.0}})
    writer.write({"step": 5, "g_loss": 0.5})
    with open(workdir / "metrics.jsonl", "a") as f:
        f.write('{"step": 6, "g_lo')
    (ckdir / "ckpt-6_temp").mkdir()
    (ckdir / "ckpt-6_temp" / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"x" * 100)
    (workdir / "config.json.tmp").write_text("{")

    caplog.set_level(logging.INFO, logger="faceres_tf.train")
    train(cfg, workdir, tf.distribute.get_strategy(), steps=STEPS, progress=False)
    lines = (workdir / "metrics.jsonl").read_text().splitlines()
    steps = [json.loads(line)["step"] for line in lines]
    assert steps == [1, 2, 3]
    lines = (workdir / rd.SUPERSEDED_METRICS).read_text().splitlines()
    superseded = [json.loads(line) for line in lines]
    assert [r.get("step") for r in superseded] == [4, 4, 5, None]
    assert all(r["superseded_by_resume_from_step"] == STEPS for r in superseded)
    assert superseded[-1]["unparsable_line"] == '{"step": 6, "g_lo'
    assert not (ckdir / "ckpt-6_temp").exists() and not (workdir / "config.json.tmp").exists()
    assert "4 metrics record(s) of steps after 3" in caplog.text


# --------------------------------------------------------------- one training per run directory (kill -9 included)
def _driver(workdir, steps, *extra):
    return [sys.executable, "-m", "faceres_tf.train", "--preset=test", f"--workdir={workdir}",
            f"--steps={steps}", "--quiet", *extra]


def _wait_for(pred, proc, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline and not pred():
        if proc.poll() is not None:
            pytest.fail("training exited early:\n" + proc.stdout.read()[-3000:])
        time.sleep(0.3)
    assert pred(), "timed out"


def _logged_steps(workdir):
    path = workdir / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line)["step"] for line in path.read_text().splitlines()
            if line.endswith("}") and "g_loss" in line]


def test_second_training_is_refused_and_kill_9_leaves_a_resumable_run(tmp_path):
    workdir = tmp_path / "run"
    first = subprocess.Popen(_driver(workdir, 10_000, "--set=train.ckpt_every=2"), cwd=REPO,
                             env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_for(lambda: len(_logged_steps(workdir)) >= 3, first)
        holder = json.loads((workdir / LOCK_NAME).read_text())
        assert holder["pid"] == first.pid

        # a second training on the same directory, in this process and as a CLI
        cfg = override(Config.from_json((workdir / "config.json").read_text()),
                       {"data.train_dir": str(REPO / "data" / "train"),
                        "data.val_dir": str(tmp_path / "no_validation_set")})
        with pytest.raises(RunLockedError, match=f"in use by another training \\(pid {first.pid}"):
            train(cfg, workdir, tf.distribute.get_strategy(), progress=False)
        second = subprocess.run(_driver(workdir, 10_000, "--set=train.ckpt_every=2"), cwd=REPO,
                                env=ENV, capture_output=True, text=True, timeout=240)
        assert second.returncode == 2
        err = second.stderr.strip().splitlines()
        assert err[-1].startswith("error: ") and f"pid {first.pid}" in err[-1]
        assert "Traceback" not in second.stderr
        assert first.poll() is None  # the first run is not disturbed
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()

    logged = _logged_steps(workdir)
    saved = ckpt_lib.checkpoint_step(ckpt_lib.latest_checkpoint(workdir / "checkpoints"))
    assert saved >= 2
    # the killed process held the lock; the OS released it with the process
    with RunLock(workdir) as lock:
        assert lock.previous_holder["pid"] == first.pid
    result = train(cfg, workdir, tf.distribute.get_strategy(), steps=saved, progress=False)
    assert result.step == saved
    steps = _logged_steps(workdir)
    assert steps == sorted(set(steps)) and max(steps) == saved  # each step once
    if max(logged) > saved:
        superseded = (workdir / rd.SUPERSEDED_METRICS).read_text()
        assert f'"step": {max(logged)}' in superseded
    assert json.loads((workdir / LOCK_NAME).read_text() or "{}") == {}  # released on exit


def test_lock_is_exclusive_within_one_process(tmp_path):
    tmp_path.mkdir(exist_ok=True)
    with RunLock(tmp_path):
        with pytest.raises(RunLockedError, match=f"pid {os.getpid()}"):
            RunLock(tmp_path).acquire()
    with RunLock(tmp_path) as again:  # released on exit
        assert again.held


# --------------------------------------------------------------- user errors of the training CLI
def _run_command(main, argv, capsys):
    """Runs an argparse command's ``main`` in this process with ``argv``
    (``argv[0]``, the program name, dropped); returns (exit status, stdout, stderr)."""
    rc = main(argv[1:])
    out = capsys.readouterr()
    return rc, out.out, out.err


def _run_driver(main, argv, capsys):
    """Runs an absl driver's ``main`` in this process with ``argv``; returns
    (exit status, stdout, stderr)."""
    from absl import flags

    flags.FLAGS(argv)
    try:
        rc = main([])
    finally:
        flags.FLAGS.unparse_flags()
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.mark.parametrize("extra,expected", [
    (["--set=train.ckpt_every=0"], "train.ckpt_every must be >= 1, got 0"),
    (["--set=loss.alpha=nan"], "loss.alpha: must be a finite number, got 'nan'"),
    (["--set=model.num_skips=abc"], "model.num_skips: expected an integer, got 'abc'"),
    (["--preset=nope"], "Unknown preset 'nope'; available presets:"),
    (["--data_dir={tmp}/missing"], "does not exist"),
    (["--cpu_replicas=-1"], "--cpu_replicas must be >= 0 (0 or 1 = no split), got -1"),
    (["--cpu_replicas=3"], "train.batch_size=4 is not divisible by the 3 replicas (--cpu_replicas)"),
])
def test_training_cli_user_errors_are_one_line_exit_2_and_create_nothing(
        tmp_path, capsys, extra, expected):
    workdir = tmp_path / "run"
    argv = ["train", "--preset=test", f"--workdir={workdir}", "--steps=5", "--quiet",
            f"--data_dir={REPO / 'data' / 'train'}"]
    argv += [e.format(tmp=tmp_path) for e in extra]
    rc, out, err = _run_command(train_command.main, argv, capsys)
    assert rc == 2, out[-2000:] + err[-2000:]
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], err
    assert not workdir.exists()  # nothing created


def test_training_cli_keeps_the_traceback_of_a_real_bug(tmp_path, capsys, monkeypatch):
    import faceres_tf.training

    def broken_train(*args, **kwargs):
        raise RuntimeError("a bug in the trainer")

    monkeypatch.setattr(faceres_tf.training, "train", broken_train)
    argv = ["train", "--preset=test", f"--workdir={tmp_path / 'run'}", "--quiet",
            f"--data_dir={REPO / 'data' / 'train'}"]
    with pytest.raises(RuntimeError, match="a bug in the trainer"):  # not swallowed, not exit 2
        _run_command(train_command.main, argv, capsys)


def test_new_run_failing_on_bad_data_leaves_nothing(tmp_path):
    bad = tmp_path / "bad_data"
    bad.mkdir()
    (bad / "face.png").write_bytes(b"not a png")  # listed, but not readable
    cfg = _cfg(tmp_path, **{"data.train_dir": str(bad)})
    workdir = tmp_path / "run"
    with pytest.raises(ValueError, match="could be read|readable"):
        train(cfg, workdir, tf.distribute.get_strategy(), steps=2, progress=False)
    assert not workdir.exists()


def test_damaged_shard_stops_training_naming_the_file(tmp_path):
    from faceres_tf.data import prepare_tfrecords

    shards = tmp_path / "shards"
    prepare_tfrecords(REPO / "data" / "train", shards, 32, shard_size=1000, progress=False)
    shard = shards / "faces-00000.tfrecord"
    data = bytearray(shard.read_bytes())
    data[200] ^= 0xFF  # a payload byte: the frame is intact, the record's CRC is not
    shard.write_bytes(bytes(data))
    cfg = _cfg(tmp_path, **{"data.train_dir": str(shards)})
    workdir = tmp_path / "run"
    with pytest.raises(ValueError, match=f"damaged training data in 1 TFRecord shard\\(s\\): "
                                         f"{shard}: record 0: DataLossError"):
        train(cfg, workdir, tf.distribute.get_strategy(), steps=2, progress=False)
    assert not workdir.exists()  # a new run that never trained leaves nothing


def test_experiment_cli_user_error_is_one_line_exit_2(tmp_path, capsys):
    from experiments import skip_ablation

    argv = ["skip_ablation", "--preset=nope", f"--workdir={tmp_path / 'x'}"]
    rc, _, err = _run_driver(skip_ablation.main, argv, capsys)
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: Unknown preset 'nope'; available"), err
