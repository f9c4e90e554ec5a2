"""Export overwrites only what is recognisably an earlier export."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

import faceres_tf  # noqa: E402
from faceres_tf import export, export_common, export_tflite  # noqa: E402
from faceres_tf.errors import UnsafePathError  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def generator():
    return faceres_tf.build_generator(faceres_tf.presets.get("test"))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, generator):
    run = tmp_path_factory.mktemp("model") / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text(faceres_tf.presets.get("test").to_json())
    tf.train.Checkpoint(generator_ema=generator).save(str(run / "checkpoints" / "ckpt"))
    return run


def test_export_onto_an_ordinary_file_is_refused_even_with_overwrite(run_dir, tmp_path):
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"my holiday photo")
    with pytest.raises(UnsafePathError, match="photo.jpg exists and is a file that is not an "
                                              "earlier export"):
        export.export_run(run_dir, photo, fmt="saved_model", overwrite=True)
    assert photo.read_bytes() == b"my holiday photo"
    assert [p.name for p in tmp_path.iterdir()] == ["photo.jpg"]  # no staging left behind

    # the same through the driver (its own process: its flags stand alone): one line, exit 2
    proc = subprocess.run([sys.executable, "-m", "faceres_tf.export_cli", f"--workdir={run_dir}",
                           f"--output={photo}", "--overwrite", "--format=saved_model"],
                          cwd=REPO, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert proc.returncode == 2, proc.stderr[-2000:]
    err = [line for line in proc.stderr.splitlines() if line.strip()]
    assert err[-1].startswith("error: ") and "photo.jpg exists and is a file" in err[-1]
    assert "Traceback" not in proc.stderr
    assert photo.read_bytes() == b"my holiday photo"


def test_folder_that_is_not_an_export_is_never_deleted(run_dir, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "export_info.json").write_text('{"my": "notes"}')  # same name, not ours
    (mine / "thesis.tex").write_text("x")
    with pytest.raises(UnsafePathError, match="not an earlier export"):
        export.export_run(run_dir, mine, fmt="saved_model", overwrite=True)
    assert sorted(p.name for p in mine.iterdir()) == ["export_info.json", "thesis.tex"]


def test_earlier_export_is_replaced_only_when_it_holds_nothing_else(run_dir, tmp_path):
    out = tmp_path / "exported"
    export.export_run(run_dir, out, fmt="saved_model")
    assert (out / export_common.EXPORT_MARKER).is_file()
    assert (out / "saved_model" / "saved_model.pb").is_file()
    with pytest.raises(FileExistsError, match="pass --overwrite"):
        export.export_run(run_dir, out, fmt="saved_model")
    (out / "notes.txt").write_text("added by the user")
    with pytest.raises(UnsafePathError, match=r"also holds \['notes.txt'\]"):
        export.export_run(run_dir, out, fmt="saved_model", overwrite=True)
    assert (out / "notes.txt").is_file()
    (out / "notes.txt").unlink()
    # an export written before the marker existed: export_info.json with its keys
    (out / export_common.EXPORT_MARKER).unlink()
    stamp = (out / "saved_model" / "saved_model.pb").stat().st_mtime_ns
    info = export.export_run(run_dir, out, fmt="saved_model", overwrite=True)
    assert info["resolution"] == 32 and (out / export_common.EXPORT_MARKER).is_file()
    assert (out / "saved_model" / "saved_model.pb").stat().st_mtime_ns != stamp  # replaced
    assert json.loads((out / "export_info.json").read_text())["generator"] == "ema"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exported"]  # no staging left behind


def test_single_file_exports_replace_only_their_own_kind(generator, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("x")
    with pytest.raises(UnsafePathError, match="not a .tflite model"):
        export_tflite.export_tflite(generator, notes, overwrite=True)
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "keep.txt").write_text("x")
    with pytest.raises(UnsafePathError, match="not a SavedModel folder"):
        export.export_saved_model(generator, folder, overwrite=True)
    assert notes.read_text() == "x" and (folder / "keep.txt").read_text() == "x"


def test_export_cli_is_quiet_and_its_folder_names_the_saved_model(run_dir, tmp_path):
    """No INFO:absl / INFO:tensorflow lines without
    --verbose; the export folder resolves to its saved_model/ (for
    ``faceres-restore --saved_model EXPORT_DIR``)."""
    out = tmp_path / "exp"
    proc = subprocess.run([sys.executable, "-m", "faceres_tf.export_cli", f"--workdir={run_dir}",
                           f"--output={out}", "--format=both"],
                          cwd=REPO, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "INFO" not in proc.stderr and "INFO" not in proc.stdout, proc.stderr[-3000:]
    assert json.loads(proc.stdout)["resolution"] == 32
    assert export_common.saved_model_dir(out) == out / "saved_model"
    assert export_common.saved_model_dir(out / "saved_model") == out / "saved_model"
    assert export_common.saved_model_dir(tmp_path) == tmp_path  # not an export: unchanged
