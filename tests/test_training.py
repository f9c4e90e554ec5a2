"""Training loop: distributed steps, multi-worker, resume after SIGKILL,
missing VGG weights. Each case runs the real driver in a subprocess on the
`test` preset (32 px) and the bundled faces."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

REPO = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")


def _train_cmd(workdir, steps, *extra):
    return [sys.executable, "-m", "faceres_tf.train", "--preset=test", f"--workdir={workdir}",
            f"--steps={steps}", "--quiet", *extra]


def _run(cmd, timeout=240, env=None):
    proc = subprocess.run(cmd, cwd=REPO, env=env or ENV, capture_output=True, text=True,
                          timeout=timeout)
    return proc


def _start(workdir, steps, *extra):
    """Starts the training driver in the background (output in ``proc.stdout``)."""
    return subprocess.Popen(_train_cmd(workdir, steps, *extra), cwd=REPO, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_until(proc, ready, poll_s, timeout=240):
    """Polls ``ready()`` until it is true; fails the test if ``proc`` exits first."""
    deadline = time.time() + timeout
    while time.time() < deadline and not ready():
        if proc.poll() is not None:
            pytest.fail("training exited early:\n" + proc.stdout.read()[-3000:])
        time.sleep(poll_s)


def _metrics(run):
    """The records of ``run/metrics.jsonl``."""
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def _ckpt_vars(prefix, contains):
    """Checkpoint tensors whose name contains ``contains``. (G's and D's own
    variables are stored under the optimizers' ``_trainable_variables`` paths:
    tf.train.Checkpoint saves each variable once, under the first path found.)"""
    reader = tf.train.load_checkpoint(prefix)
    names = sorted(n for n in reader.get_variable_to_shape_map() if contains in n)
    return {n: reader.get_tensor(n) for n in names}


def test_two_replica_mirrored_run(tmp_path):
    proc = _run(_train_cmd(tmp_path / "run", 2, "--cpu_replicas=2", "--strategy=mirrored"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "replicas=2" in proc.stdout
    run = tmp_path / "run"
    assert tf.train.latest_checkpoint(str(run / "checkpoints")).endswith("ckpt-2")
    metrics = _metrics(run)
    losses = [m for m in metrics if "g_loss" in m]
    assert [m["step"] for m in losses] == [1, 2]
    assert all(np.isfinite(m["g_loss"]) and np.isfinite(m["d_loss"]) for m in losses)
    assert any("eval" in m for m in metrics)
    assert (run / "samples" / "latest.png").is_file()
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["loss"]["perceptual"] == "off"
    assert cfg["resolved"]["perceptual_weights"] == "off"
    assert cfg["train"]["precision"] == "fp32" and cfg["resolved"]["precision"] == "fp32"
    info = json.loads((run / "run_info.json").read_text())["sessions"][-1]
    assert info["replicas"] == 2 and info["git_commit"]
    assert info["precision"] == "fp32" and info["precision_reason"] == "asked for"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_multi_worker_two_processes_identical_weights(tmp_path):
    ports = [_free_port(), _free_port()]
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    workdir = tmp_path / "mw"
    procs = []
    for i in range(2):
        env = dict(ENV, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}))
        procs.append(subprocess.Popen(_train_cmd(workdir, 2, "--strategy=multi_worker"), cwd=REPO,
                                      env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True))
    outs = []
    for p in procs:
        try:
            outs.append(p.communicate(timeout=300)[0])
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            pytest.fail("multi-worker run timed out")
    for p, out in zip(procs, outs):
        assert p.returncode == 0, out[-4000:]
    chief = tf.train.latest_checkpoint(str(workdir / "checkpoints"))
    other = tf.train.latest_checkpoint(str(workdir / ".worker_1_checkpoints"))
    assert chief.endswith("ckpt-2") and other.endswith("ckpt-2")
    a = {**_ckpt_vars(chief, "_trainable_variables"), **_ckpt_vars(chief, "generator_ema/")}
    b = {**_ckpt_vars(other, "_trainable_variables"), **_ckpt_vars(other, "generator_ema/")}
    assert len(a) > 50 and a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert "MultiWorkerMirroredStrategy" in outs[0] and "replicas=2" in outs[0]


def test_resume_after_sigkill_continues_with_optimizer_state(tmp_path):
    workdir = tmp_path / "resume"
    proc = _start(workdir, 500, "--set=train.ckpt_every=2")
    ckdir = workdir / "checkpoints"
    _wait_until(proc, lambda: tf.train.latest_checkpoint(str(ckdir)), poll_s=0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = tf.train.latest_checkpoint(str(ckdir))
    assert killed_at is not None
    saved_step = int(killed_at.rsplit("-", 1)[1])
    assert saved_step >= 2
    saved_opt = _ckpt_vars(killed_at, "g_optimizer/_variables/")  # Adam moments
    assert saved_opt

    # The restarted trainer restores the step, the optimizer moments and the EMA.
    from faceres_tf.config import Config
    from faceres_tf.training import Trainer

    cfg = Config.from_json((workdir / "config.json").read_text())
    trainer = Trainer(cfg, workdir, tf.distribute.get_strategy())
    assert trainer.restore_checkpoint() == saved_step
    assert int(trainer.g_opt.iterations.numpy()) == saved_step
    restored = {v.path: v.numpy() for v in trainer.g_opt.variables}
    # every saved optimizer tensor matches a restored one
    flat_restored = [r for r in restored.values()]
    for name, value in saved_opt.items():
        if value.ndim == 0 and value.dtype.kind in "iu":
            continue
        assert any(r.shape == value.shape and np.array_equal(r, value) for r in flat_restored), name

    # Restarting the driver continues from the checkpoint up to --steps.
    target = saved_step + 2
    proc2 = _run(_train_cmd(workdir, target))
    assert proc2.returncode == 0, proc2.stdout[-3000:] + proc2.stderr[-3000:]
    log2 = proc2.stdout + proc2.stderr
    assert "Resumed from" in log2 and f"(step {saved_step})" in log2
    assert tf.train.latest_checkpoint(str(ckdir)).endswith(f"ckpt-{target}")
    steps_logged = [m.get("step") for m in _metrics(workdir)]
    assert max(steps_logged) == target


def test_sigterm_writes_checkpoint_and_exits(tmp_path):
    workdir = tmp_path / "term"
    proc = _start(workdir, 10_000, "--set=train.ckpt_every=100000")
    metrics = workdir / "metrics.jsonl"
    _wait_until(proc, lambda: metrics.is_file() and metrics.read_text().count("g_loss") >= 2,
                poll_s=0.3)
    proc.send_signal(signal.SIGTERM)
    out = proc.communicate(timeout=120)[0]
    assert proc.returncode == 130, out[-3000:]
    latest = tf.train.latest_checkpoint(str(workdir / "checkpoints"))
    assert latest is not None and int(latest.rsplit("-", 1)[1]) >= 2
    assert "rerun the same command to resume" in out or "Interrupted" in out


def test_missing_vgg_weights_is_a_clear_error(tmp_path):
    env = dict(ENV, KERAS_HOME=str(tmp_path / "empty_keras"))
    proc = _run(_train_cmd(tmp_path / "vgg", 1, "--perceptual=vgg19"), env=env)
    assert proc.returncode == 2
    err = proc.stderr
    assert "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5" in err
    assert "253f8cb515780f3b799900260a226db6" in err
    assert "--perceptual=off" in err


def test_lazy_r1_correction_sets_the_discriminator_optimizer(tmp_path):
    """StyleGAN2's lazy-regularisation correction (docs/method.md §4): with R1
    every N steps, D's Adam runs with lr * c and betas ** c, c = N / (N + 1);
    G's optimizer and the switched-off case keep the configured values."""
    import keras

    import faceres_tf
    from faceres_tf.config import override
    from faceres_tf.training import Trainer

    base = override(faceres_tf.presets.get("test"), {"train.beta1": 0.5, "loss.r1_interval": 4})

    def adam(opt):
        return [float(keras.ops.convert_to_numpy(v)) for v in
                (opt.learning_rate, opt.beta_1, opt.beta_2)]

    on = Trainer(base, tmp_path / "on", tf.distribute.get_strategy())
    c = 4 / 5
    t = base.train
    np.testing.assert_allclose(adam(on.d_opt), [t.lr * c, 0.5 ** c, 0.99 ** c], rtol=1e-6)
    np.testing.assert_allclose(adam(on.g_opt), [t.lr, 0.5, 0.99], rtol=1e-6)
    off = Trainer(override(base, {"loss.r1_lazy_correction": False}), tmp_path / "off",
                  tf.distribute.get_strategy())
    np.testing.assert_allclose(adam(off.d_opt), [t.lr, 0.5, 0.99], rtol=1e-6)


def test_resume_applies_the_changed_learning_rate(tmp_path):
    """A ``train.lr`` accepted on resume reaches both optimizers
    (D's with the lazy-R1 correction). Keras 3 keeps ``learning_rate`` as a
    checkpointed variable; read back from the checkpoint the resumed session
    writes, it must be the new config's value, not the restored one."""
    from faceres_tf import presets
    from faceres_tf.config import override
    from faceres_tf.training.optimizers import learning_rates

    workdir = tmp_path / "lr"
    first = _run(_train_cmd(workdir, 2))
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    ckdir = workdir / "checkpoints"

    def lrs(prefix):
        g = _ckpt_vars(prefix, "g_optimizer/_learning_rate")
        d = _ckpt_vars(prefix, "d_optimizer/_learning_rate")
        assert len(g) == 1 and len(d) == 1, (sorted(g), sorted(d))
        return float(next(iter(g.values()))), float(next(iter(d.values())))

    old = learning_rates(presets.get("test"))
    np.testing.assert_allclose(lrs(tf.train.latest_checkpoint(str(ckdir))), old, rtol=1e-6)
    new_lr = old[0] / 2.5
    second = _run(_train_cmd(workdir, 3, f"--set=train.lr={new_lr}", "--allow_config_change"))
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    latest = tf.train.latest_checkpoint(str(ckdir))
    assert latest.endswith("ckpt-3")
    expected = learning_rates(override(presets.get("test"), {"train.lr": new_lr}))
    assert expected[1] < expected[0]  # the test preset uses lazy R1: D's lr is corrected
    np.testing.assert_allclose(lrs(latest), expected, rtol=1e-6)
