"""``faceres-train`` (faceres_tf/train.py): a tiny run from the console
script's entry point, fine-tuning with ``--init`` (a run directory, a bundled
model), and its input errors (one line, exit 2, nothing created)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from commands import REPO, argv_of, run
from run_dirs import make_run_dir

from faceres_tf import train as train_command
from faceres_tf.pretrained import DEFAULT_MODEL, model_info


def _parse(*argv):
    return train_command.build_parser().parse_args(list(argv))


def test_tiny_run_fine_tuned_from_a_run_directory(tmp_path):
    """Two steps of the `test` preset, started from another run's EMA generator:
    every generator variable is copied (same config), and the run says so."""
    source = make_run_dir(tmp_path / "source", seed=3)
    workdir = tmp_path / "tuned"
    proc = run(argv_of("faceres-train") + ["--preset", "test", "--init", source, "--workdir", str(workdir),
                                            "--steps", "2", "--quiet"], timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"init={source}" in proc.stdout and "Run directory:" in proc.stdout
    assert (workdir / "checkpoints" / "ckpt-2.index").is_file()
    sessions = json.loads((workdir / "run_info.json").read_text())["sessions"]
    init = sessions[0]["initialised_from"]
    assert init["source"] == source and init["source_resolution"] == 32
    assert init["copied"] > 0 and init["adapted"] == 0 and init["fresh"] == 0
    assert json.loads((workdir / "config.json").read_text())["train"]["init_from"] == source


def test_init_of_a_bundled_model_trains_its_preset_unless_told_otherwise():
    data = str(REPO / "data" / "train")
    cfg = train_command.config_from_args(_parse("--init", DEFAULT_MODEL, "--data_dir", data, "--workdir", "w"))
    assert cfg.name == model_info(DEFAULT_MODEL)["config"]["name"] == "cpu_128"
    assert cfg.train.init_from == DEFAULT_MODEL and cfg.data.train_dir == data
    explicit = _parse("--init", DEFAULT_MODEL, "--preset", "tiny", "--workdir", "w")
    assert train_command.preset_of(explicit) == "tiny"
    assert train_command.preset_of(_parse("--workdir", "w")) == train_command.DEFAULT_PRESET


@pytest.mark.parametrize("extra,expected", [
    (["--init", "no_such_model"], "--init no_such_model is neither a bundled model"),
    (["--steps", "x"], "argument --steps: invalid int value: 'x'"),
    (["--strategy", "nope"], "argument --strategy: invalid choice: 'nope'"),
])
def test_input_errors_are_one_line_and_create_nothing(tmp_path, capsys, extra, expected):
    workdir = tmp_path / "run"
    argv = ["--preset", "test", "--workdir", str(workdir), "--data_dir", str(REPO / "data" / "train"), *extra]
    try:
        status = train_command.main(argv)
    except SystemExit as e:  # a flag that does not parse
        status = e.code
    assert status == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], lines
    assert not workdir.exists()


@pytest.mark.slow
def test_fine_tune_the_bundled_model(tmp_path):
    """``faceres-train --init rdfr_cpu128 --data_dir FACES``: one step of the
    bundled model's own preset (128 px: slow on a CPU)."""
    workdir = tmp_path / "tuned"
    proc = run(argv_of("faceres-train") + ["--init", DEFAULT_MODEL, "--data_dir", str(REPO / "data" / "train"),
                                            "--workdir", str(workdir), "--steps", "1", "--batch_size", "2",
                                            "--perceptual", "off", "--set", "train.eval_every=1000",
                                            "--quiet"], timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    init = json.loads((workdir / "run_info.json").read_text())["sessions"][0]["initialised_from"]
    assert init["source"] == DEFAULT_MODEL and init["copied"] > 0 and init["fresh"] == 0
    assert Path(workdir / "checkpoints" / "ckpt-1.index").is_file()
