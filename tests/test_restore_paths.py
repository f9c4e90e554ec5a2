"""faceres_tf.restore never overwrites or re-reads its inputs, rejects
non-finite numbers, and says which model route is safe. Uses the bundled
faces (data/train) as aligned inputs and a random ``test`` preset generator;
no shared data needed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


from run_dirs import make_run_dir  # noqa: E402

from faceres_tf import restore  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return make_run_dir(tmp_path_factory.mktemp("model"))


@pytest.fixture
def faces(tmp_path):
    folder = tmp_path / "S"
    folder.mkdir()
    src = sorted((REPO / "data" / "train").glob("*.jpg"))[:2]
    if len(src) < 2:
        pytest.skip("bundled faces in data/train missing")
    for i, p in enumerate(src):
        Image.open(p).convert("RGB").resize((32, 32)).save(folder / f"f{i}.png")
    return folder


def _restore(capsys, *args):
    rc = restore.main([*map(str, args), "--aligned", "--quiet"])
    cap = capsys.readouterr()
    return rc, cap.out + cap.err


def _pngs(folder: Path) -> list:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.png"))


def test_output_folder_equal_to_input_folder_never_reads_its_outputs(run_dir, faces, capsys):
    expected = ["cmp/f0.png", "cmp/f1.png", "f0.png", "f1.png", "restored_faces/f0.png",
                "restored_faces/f1.png"]
    rc, out = _restore(capsys, "--input", faces, "--output", faces, "--checkpoint", run_dir)
    assert rc == 0 and "2 succeeded" in out
    assert _pngs(faces) == expected
    # the second run sees the same two inputs, not its own outputs (was: 6 inputs,
    # restored_faces/restored_faces/..., cmp/cmp/...)
    rc, out = _restore(capsys, "--input", faces, "--output", faces, "--checkpoint", run_dir,
                       "--overwrite")
    assert rc == 0 and "2 succeeded" in out, out
    assert _pngs(faces) == expected


def test_input_inside_the_output_tree_is_refused(run_dir, faces, tmp_path, capsys):
    out_dir = tmp_path / "X"
    photo = out_dir / "restored_faces" / "p.png"
    photo.parent.mkdir(parents=True)
    shutil.copy(faces / "f0.png", photo)
    before = photo.read_bytes()
    for inp in (photo, photo.parent):
        rc, out = _restore(capsys, "--input", inp, "--output", out_dir, "--checkpoint", run_dir,
                           "--overwrite")
        assert rc == 2
        assert out.strip() == (f"error: --input {inp} lies inside the output tree of --output "
                               f"{out_dir} ({out_dir / 'restored_faces'}); outputs could replace "
                               "inputs. Choose another --output or move the inputs.")
    assert photo.read_bytes() == before  # the input was not replaced
    assert _pngs(out_dir) == ["restored_faces/p.png"]


def test_output_that_is_a_file_is_refused(run_dir, faces, capsys):
    rc, out = _restore(capsys, "--input", faces / "f0.png", "--output", faces / "f1.png",
                       "--checkpoint", run_dir)
    assert rc == 2 and "is a file; give a folder" in out


@pytest.mark.parametrize("flag,value", [("--upscale", "nan"), ("--upscale", "inf"),
                                        ("--min_face_size", "nan"), ("--min_confidence", "-inf")])
def test_non_finite_numbers_are_rejected_before_any_output(run_dir, faces, tmp_path, capsys,
                                                           flag, value):
    out_dir = tmp_path / "N"
    rc, out = _restore(capsys, "--input", faces, "--output", out_dir, "--checkpoint", run_dir,
                       f"{flag}={value}")
    assert rc == 2
    assert out.strip() == f"error: {flag} must be a finite number, got {float(value)}"
    assert not out_dir.exists()


def test_help_says_which_model_source_is_safe():
    text = " ".join(restore.build_parser().format_help().split())
    assert "load only SavedModels you exported yourself or trust" in text
    assert text.count("only weights are read") == 2  # --model and --checkpoint: weights + config
    assert "load only SavedModels you exported yourself or otherwise trust" in restore.__doc__
