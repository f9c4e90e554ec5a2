"""The restoration CLI (faceres_tf.restore) on real photos and bad inputs.

Uses the ``test`` preset generator (32 px, random weights): these tests check
the plumbing (detection, alignment, batching, paste-back, file handling), not
restoration quality.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

import faceres_tf  # noqa: E402
from faceres_tf import (  # noqa: E402
    export,
    image_io,  # noqa: E402
    restore,
)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
pytestmark = pytest.mark.skipif(not (DATA / "deepface_test_photos").exists(),
                                reason=f"shared test photos not found at {DATA}")
SUMMARY = re.compile(r"(\d+) succeeded, (\d+) failed, (\d+) faces restored, (\d+) skipped faces")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A fake training run dir and a SavedModel of the same random generator."""
    root = tmp_path_factory.mktemp("models")
    cfg = faceres_tf.presets.get("test")
    tf.keras.utils.set_random_seed(7)
    g = faceres_tf.build_generator(cfg)
    for v in g.weights:
        if "strength" in v.path:
            v.assign(0.5)  # make the seed visible in the output
    run = root / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text(cfg.to_json())
    tf.train.Checkpoint(generator_ema=g).save(str(run / "checkpoints" / "ckpt"))
    sm = export.export_saved_model(g, root / "saved_model")
    return {"run": str(run), "saved_model": sm, "resolution": cfg.model.resolution}


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    d = tmp_path_factory.mktemp("photos")
    couple = DATA / "deepface_test_photos" / "couple.jpg"
    blake = image_io.read_image(DATA / "gfpgan_whole_imgs" / "Blake_Lively.jpg").rgb
    (d / "sub").mkdir()
    shutil.copy(DATA / "gfpgan_whole_imgs" / "Blake_Lively.jpg", d / "sub" / "Blake_Lively.jpg")
    cv2.imwrite(str(d / "gray.png"), cv2.cvtColor(blake, cv2.COLOR_RGB2GRAY))
    cv2.imwrite(str(d / "deep16.png"), blake[..., ::-1].astype(np.uint16) * 257)
    cv2.imwrite(str(d / "rgba.png"), np.dstack([blake[..., ::-1], np.full(blake.shape[:2], 128, np.uint8)]))
    rng = np.random.default_rng(0)
    cv2.imwrite(str(d / "noface.png"), cv2.GaussianBlur(rng.integers(0, 255, (240, 320, 3), dtype=np.uint8),
                                                        (0, 0), 3))
    big = cv2.resize(cv2.imread(str(couple)), (4000, 2786), interpolation=cv2.INTER_LINEAR)
    cv2.imwrite(str(d / "large.jpg"), big, [cv2.IMWRITE_JPEG_QUALITY, 85])
    (d / "corrupt.png").write_bytes((d / "gray.png").read_bytes()[:200])
    (d / "text.jpg").write_text("this is not a jpeg")
    (d / "notes.txt").write_text("ignored: no image extension")
    return d


def _run(capsys, *args):
    """Runs the CLI; returns (exit status, stdout + stderr, summary counts).
    The summary is stdout's only line; messages about photos are on stderr."""
    rc = restore.main([*map(str, args), "--quiet"])
    cap = capsys.readouterr()
    m = SUMMARY.search(cap.out)
    assert m and len(cap.out.strip().splitlines()) == 1, (cap.out, cap.err)
    return rc, cap.out + cap.err, tuple(int(v) for v in m.groups())


def test_folder_with_bad_inputs(models, photos, tmp_path, capsys):
    out_dir = tmp_path / "out"
    rc, out, (ok, failed, faces, skipped) = _run(
        capsys, "--input", photos, "--output", out_dir, "--saved_model", models["saved_model"], "--ext", "jpg",
        "--batch_size", "4",
    )
    assert rc == 1 and failed == 2 and ok == 6, out
    assert re.search(r"FAILED .*corrupt\.png: not a readable image", out)
    assert re.search(r"FAILED .*text\.jpg: not a readable image", out)
    assert "16-bit -> 8-bit" in out and "alpha composited over white" in out and "notes.txt" in out
    assert re.search(r"noface\.png: .*no face restored; the photo is written unchanged", out)
    # Blake x 4 (orig, gray, 16-bit, RGBA) + couple (large) x 2, at least; none too small;
    # one restored_faces file per restored face, and the four versions of Blake's
    # photo give the same faces
    assert faces >= 6 and skipped == 0
    face_files = sorted(p.name for p in (out_dir / "restored_faces").rglob("*.jpg"))
    assert len(face_files) == faces, face_files
    per_photo = {n: sum(f.startswith(n + "_") for f in face_files)
                 for n in ("Blake_Lively", "gray", "deep16", "rgba", "large")}
    assert len(set(per_photo[n] for n in ("Blake_Lively", "gray", "deep16", "rgba"))) == 1, per_photo
    assert per_photo["Blake_Lively"] >= 1 and per_photo["large"] == 2, per_photo
    imgs = out_dir / "restored_imgs"
    for name in ("sub/Blake_Lively", "gray", "deep16", "rgba", "noface", "large"):
        assert (imgs / f"{name}.jpg").exists(), name
    assert not (imgs / "corrupt.jpg").exists()
    large = image_io.read_image(imgs / "large.jpg").rgb
    assert large.shape == (2786, 4000, 3)
    assert len(list((out_dir / "restored_faces").glob("large_*.jpg"))) == 2
    r = models["resolution"]
    face = image_io.read_image(out_dir / "restored_faces" / "gray_00.jpg").rgb.astype(int)
    assert face.shape == (r, r, 3)
    assert np.abs(face[..., 0] - face[..., 2]).max() <= 3  # gray photo -> gray face (JPEG noise aside)
    cmp = image_io.read_image(out_dir / "cmp" / "sub" / "Blake_Lively_00.jpg").rgb
    assert cmp.shape == (r, 2 * r, 3)
    noface = image_io.read_image(imgs / "noface.jpg").rgb
    assert noface.shape == (240, 320, 3)

    # Runs into an existing output: nothing is overwritten without --overwrite.
    out_dir = tmp_path / "again"
    _run(capsys, "--input", photos / "sub", "--output", out_dir, "--saved_model", models["saved_model"],
         "--ext", "jpg")
    target = out_dir / "restored_imgs" / "Blake_Lively.jpg"  # names are relative to --input
    assert target.exists()
    target.write_bytes(b"sentinel")
    rc, out, (ok, failed, faces, _) = _run(
        capsys, "--input", photos / "sub", "--output", out_dir, "--saved_model", models["saved_model"],
        "--ext", "jpg",
    )
    assert rc == 0 and failed == 0 and ok == 1
    assert f"kept existing {target}" in out and "existing files kept" in out
    assert target.read_bytes() == b"sentinel"
    rc, out, _ = _run(capsys, "--input", photos / "sub", "--output", out_dir, "--saved_model",
                      models["saved_model"], "--ext", "jpg", "--overwrite")
    assert rc == 0 and "kept existing" not in out
    assert image_io.read_image(target).rgb.shape == (464, 700, 3)


def test_aligned_samples_and_checkpoint_equals_saved_model(models, tmp_path, capsys):
    faces_dir = tmp_path / "aligned"
    faces_dir.mkdir()
    for name in ("Adele_crop.png", "Julia_Roberts_crop.png"):
        src = DATA / "gfpgan_cropped_faces" / name
        if not src.exists():
            pytest.skip(f"{src} missing")
        shutil.copy(src, faces_dir / name)
    r = models["resolution"]
    outs = {}
    for kind in ("saved_model", "checkpoint"):
        model = models["saved_model"] if kind == "saved_model" else models["run"]
        out_dir = tmp_path / kind
        rc, out, (ok, failed, faces, _) = _run(
            capsys, "--input", faces_dir, "--output", out_dir, f"--{kind}", model, "--aligned",
            "--num_samples", "2", "--seed", "3", "--precision", "fp32",  # the export's precision
        )
        assert rc == 0 and (ok, failed, faces) == (2, 0, 2), out
        assert not (out_dir / "restored_imgs").exists()
        names = sorted(p.name for p in (out_dir / "restored_faces").iterdir())
        assert names == ["Adele_crop_seed3.png", "Adele_crop_seed4.png",
                         "Julia_Roberts_crop_seed3.png", "Julia_Roberts_crop_seed4.png"]
        assert image_io.read_image(out_dir / "cmp" / "Adele_crop.png").rgb.shape == (r, 3 * r, 3)
        outs[kind] = {n: image_io.read_image(out_dir / "restored_faces" / n).rgb for n in names}
    for n, img in outs["saved_model"].items():
        # same pixels either way, within float32 rounding (graph vs eager kernels)
        assert np.abs(img.astype(int) - outs["checkpoint"][n].astype(int)).max() <= 1, n
    assert not np.array_equal(outs["saved_model"]["Adele_crop_seed3.png"],
                              outs["saved_model"]["Adele_crop_seed4.png"])  # seeds differ

    # --seed -1: zero noise, deterministic across runs
    a, b = tmp_path / "z1", tmp_path / "z2"
    for d in (a, b):
        _run(capsys, "--input", faces_dir / "Adele_crop.png", "--output", d, "--saved_model",
             models["saved_model"], "--aligned", "--seed", "-1")
    np.testing.assert_array_equal(image_io.read_image(a / "restored_faces" / "Adele_crop.png").rgb,
                                  image_io.read_image(b / "restored_faces" / "Adele_crop.png").rgb)


def test_face_filters_center_face_and_upscale(models, tmp_path, capsys):
    couple = DATA / "deepface_test_photos" / "couple.jpg"
    small = tmp_path / "in" / "couple.jpg"
    small.parent.mkdir()
    img = cv2.imread(str(couple))
    cv2.imwrite(str(small), cv2.resize(img, (570, 397), interpolation=cv2.INTER_AREA))
    rc, out, (ok, failed, faces, skipped) = _run(
        capsys, "--input", small, "--output", tmp_path / "center", "--saved_model", models["saved_model"],
        "--only_center_face", "--upscale", "2",
    )
    assert rc == 0 and (faces, skipped) == (1, 1) and "--only_center_face" in out
    assert image_io.read_image(tmp_path / "center" / "restored_imgs" / "couple.png").rgb.shape == (794, 1140, 3)
    rc, out, (ok, failed, faces, skipped) = _run(
        capsys, "--input", small, "--output", tmp_path / "big", "--saved_model", models["saved_model"],
        "--min_face_size", "1000",
    )
    assert rc == 0 and (faces, skipped) == (0, 2) and "too small" in out
    unchanged = image_io.read_image(tmp_path / "big" / "restored_imgs" / "couple.png").rgb
    np.testing.assert_array_equal(unchanged, image_io.read_image(small).rgb)


def test_usage_errors(models, tmp_path, capsys):
    assert restore.main(["--input", str(tmp_path / "missing"), "--output", str(tmp_path / "o"),
                         "--saved_model", models["saved_model"]]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "x.png").write_bytes(b"")
    assert restore.main(["--input", str(tmp_path / "x.png"), "--output", str(tmp_path / "o"),
                         "--saved_model", str(tmp_path)]) == 2
    assert "no saved_model.pb" in capsys.readouterr().err
    assert restore.main(["--input", str(tmp_path / "x.png"), "--output", str(tmp_path / "o"),
                         "--saved_model", models["saved_model"], "--seed", "-1", "--num_samples", "2"]) == 2
    assert "zero noise" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse: at most one model source
        restore.main(["--input", "a", "--output", "b", "--checkpoint", "c", "--saved_model", "d"])
    # no model source: the bundled model is the default; the missing input is the error
    assert restore.main(["--input", str(tmp_path / "a"), "--output", str(tmp_path / "b")]) == 2
    assert "does not exist" in capsys.readouterr().err
