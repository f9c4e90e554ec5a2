"""Tests for faceres_tf.data: image reading, bad files, tf.data pipeline, TFRecords."""

import dataclasses
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2
import numpy as np
import pytest
from PIL import Image

from faceres_tf import presets
from faceres_tf.data import (
    DataError,
    clean_dataset,
    list_faces,
    list_shards,
    load_face,
    load_validation_pairs,
    make_dataset,
    prepare_tfrecords,
)
from faceres_tf.data import prepare as prepare_cli
from faceres_tf.image_io import ImageReadError, read_rgb

REPO = Path(__file__).resolve().parents[1]
BUNDLED = REPO / "data"
R = 32


def _cfg(**data):
    cfg = presets.get("test")
    assert cfg.model.resolution == R
    return dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, **data))


def _bundled_faces(n):
    files = sorted((BUNDLED / "train").glob("*.jpg"))
    if len(files) < n:
        pytest.skip("bundled faces in data/train missing (python -m tools.make_samples)")
    return files[:n]


def _write_good(folder, n=4, side=48):
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, f in enumerate(_bundled_faces(n)):
        img = np.asarray(Image.open(f).convert("RGB").resize((side, side), Image.BOX))
        p = folder / f"good_{i}.png"
        Image.fromarray(img).save(p)
        out.append(p)
    return out


# ------------------------------------------------------------------ listing
def test_list_faces_recursive_case_insensitive(tmp_path):
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    for name in ["a.png", "b.JPG", "sub/c.jpeg", "sub/deeper/d.WebP", "e.bmp"]:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("not an image")
    got = [Path(p).relative_to(tmp_path.resolve()).as_posix() for p in list_faces(tmp_path)]
    assert got == sorted(["a.png", "b.JPG", "sub/c.jpeg", "sub/deeper/d.WebP", "e.bmp"])


def test_empty_and_missing_folder_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("x")
    with pytest.raises(DataError, match="empty"):
        list_faces(tmp_path / "empty")
    with pytest.raises(DataError, match="does not exist"):
        make_dataset(_cfg(), folder=tmp_path / "missing")
    with pytest.raises(DataError, match="empty"):
        make_dataset(_cfg(), folder=tmp_path / "empty")


# --------------------------------------------------------------- reading faces
def test_load_face_centre_crops_and_resizes(tmp_path):
    # Non-square: centre crop then resize.
    wide = np.zeros((20, 40, 3), np.uint8)
    wide[:, 10:30] = 200
    face = load_face_from_array(tmp_path, wide)
    assert face.shape == (R, R, 3) and face.min() >= 199


def load_face_from_array(tmp_path, arr):
    p = tmp_path / "arr.png"
    Image.fromarray(arr).save(p)
    return load_face(p, R)


def _write_bad_and_odd(folder):
    """Returns (bad file names, odd-but-readable file names)."""
    good_png = (folder / "good_0.png").read_bytes()
    buf = cv2.imencode(".jpg", np.full((64, 64, 3), 128, np.uint8))[1].tobytes()
    bad = {
        "corrupt.png": b"\x89PNG\r\n\x1a\n" + os.urandom(300),
        "truncated.png": good_png[: len(good_png) // 2],
        "truncated.jpg": buf[: len(buf) // 2],
        "zero.jpg": b"",
        "text.jpg": b"this is not a jpeg at all\n" * 4,
    }
    for name, data in bad.items():
        (folder / name).write_bytes(data)
    face = np.asarray(Image.open(folder / "good_0.png"))
    cv2.imwrite(str(folder / "deep16.png"), face[..., ::-1].astype(np.uint16) * 257)
    Image.fromarray(face).convert("L").save(folder / "gray.png")
    Image.fromarray(face).convert("RGBA").save(folder / "rgba.png")
    Image.fromarray(face).resize((8, 8), Image.BOX).save(folder / "tiny.png")
    return sorted(bad), ["deep16.png", "gray.png", "rgba.png", "tiny.png"]


def test_bad_files_are_skipped_with_one_warning_each(tmp_path, caplog):
    folder = tmp_path / "mixed"
    good = _write_good(folder, n=3)
    bad, odd = _write_bad_and_odd(folder)
    for name in bad:
        with pytest.raises(ImageReadError, match=name.replace(".", r"\.")):
            read_rgb(folder / name)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="faceres_tf.data"):
        ds = make_dataset(_cfg(), split="val", batch_size=2, repeat=False, folder=folder)
        batches = list(ds)
    n = sum(int(d.shape[0]) for d, _ in batches)
    assert n == len(good) + len(odd)
    for d, t in batches:
        assert d.shape[1:] == t.shape[1:] == (R, R, 3)
        assert -1.0 <= float(d.numpy().min()) and float(t.numpy().max()) <= 1.0
    messages = [r.getMessage() for r in caplog.records]
    for name in bad:
        hits = [m for m in messages if "Skipping" in m and name in m]
        assert len(hits) == 1, (name, messages)
    assert any(f"Skipped {len(bad)} of {len(good) + len(bad) + len(odd)}" in m for m in messages)
    upscale = [m for m in messages if "upscaled" in m]
    assert len(upscale) == 1 and "tiny.png" in upscale[0] and "good_0" not in upscale[0]


def test_nothing_readable_is_a_clear_error(tmp_path):
    folder = tmp_path / "allbad"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"")
    (folder / "b.png").write_bytes(b"garbage" * 10)
    with pytest.raises(DataError, match="allbad"):
        make_dataset(_cfg(), folder=folder)


def test_file_broken_after_scan_is_skipped_in_pipeline(tmp_path, caplog):
    folder = tmp_path / "late"
    good = _write_good(folder, n=3)
    ds = make_dataset(_cfg(), split="val", batch_size=8, repeat=False, folder=folder)
    good[1].write_bytes(b"broken after the scan")
    with caplog.at_level(logging.WARNING, logger="faceres_tf.data"):
        (d, _), = [(d.numpy(), t) for d, t in ds]
    assert d.shape[0] == 2
    assert sum("good_1.png" in r.getMessage() for r in caplog.records) == 1


# ---------------------------------------------------------------- dataset
@pytest.fixture(scope="module")
def faces_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("faces")
    _write_good(folder, n=6)
    return folder


def _first(ds, n=1):
    return [(d.numpy(), t.numpy()) for d, t in ds.take(n)]


def test_make_dataset_train_shapes_and_determinism(faces_dir):
    cfg = _cfg(gray_prob=0.3, color_jitter_prob=0.3)
    a = _first(make_dataset(cfg, "train", batch_size=4, seed=5, folder=faces_dir), 3)
    b = _first(make_dataset(cfg, "train", batch_size=4, seed=5, folder=faces_dir), 3)
    c = _first(make_dataset(cfg, "train", batch_size=4, seed=6, folder=faces_dir), 3)
    for (d, t) in a:
        assert d.shape == t.shape == (4, R, R, 3)
        assert d.dtype == t.dtype == np.float32
        assert d.min() >= -1.0 and d.max() <= 1.0 and t.min() >= -1.0 and t.max() <= 1.0
    for (d1, t1), (d2, t2) in zip(a, b):
        np.testing.assert_allclose(d1, d2, atol=1e-6)
        np.testing.assert_array_equal(t1, t2)
    assert any(np.abs(d1 - d3).mean() > 1e-3 for (d1, _), (d3, _) in zip(a, c))
    # drop_remainder in train: 6 images, batch 4, no repeat -> one batch.
    assert len(list(make_dataset(cfg, "train", batch_size=4, repeat=False, folder=faces_dir))) == 1


def test_relative_folder_and_sr_degradation(faces_dir, monkeypatch):
    monkeypatch.chdir(faces_dir.parent)
    cfg = _cfg(degradation="sr8", train_dir=faces_dir.name)
    (d, t), = _first(make_dataset(cfg, "train", batch_size=2))
    assert d.shape == (2, R, R, 3)
    assert np.abs(d - t).mean() > 0.01


def test_validation_pairs_are_fixed(faces_dir):
    cfg = _cfg()
    d1, t1 = load_validation_pairs(cfg, folder=faces_dir, num=4)
    d2, t2 = load_validation_pairs(cfg, folder=faces_dir, num=4)
    assert d1.shape == t1.shape == (4, R, R, 3) and d1.dtype == np.float32
    np.testing.assert_array_equal(d1, d2)
    np.testing.assert_array_equal(t1, t2)
    # Targets in file order, unflipped.
    ref = load_face(sorted(faces_dir.glob("*.png"))[0], R).astype(np.float32) / 127.5 - 1.0
    np.testing.assert_allclose(t1[0], ref, atol=1e-5)
    d3, _ = load_validation_pairs(cfg, folder=faces_dir, num=4, seed=99)
    assert np.abs(d1 - d3).mean() > 1e-3


# -------------------------------------------------------------- tfrecords
def test_tfrecord_prepare_round_trip(faces_dir, tmp_path, capsys):
    out = tmp_path / "shards"
    rc = prepare_cli.main(["--input", str(faces_dir), "--output", str(out), "--resolution",
                           str(R), "--shard_size", "4", "--quiet"])
    assert rc == 0
    assert "wrote 6 faces" in capsys.readouterr().out
    shards = list_shards(out)
    assert [Path(s).name for s in shards] == ["faces-00000.tfrecord", "faces-00001.tfrecord"]
    faces = [f.numpy() for f in clean_dataset(out, R)]
    refs = [load_face(p, R) for p in sorted(faces_dir.glob("*.png"))]
    assert len(faces) == 6
    # Shards are interleaved, so match each face to its source; PNG is lossless.
    for r in refs:
        assert sum(np.array_equal(f, r) for f in faces) == 1
    # Shards at R serve another resolution too (resized in the parser).
    assert [f.shape for f in clean_dataset(out, 16).take(2)] == [(16, 16, 3)] * 2
    (d, t), = _first(make_dataset(_cfg(), "train", batch_size=3, folder=out))
    assert d.shape == t.shape == (3, R, R, 3)
    with pytest.raises(DataError, match="already holds"):
        prepare_tfrecords(faces_dir, out, R, progress=False)


def _shards(faces_dir, out, shard_size=2):
    prepare_tfrecords(faces_dir, out, R, shard_size=shard_size, progress=False)
    return [Path(s) for s in list_shards(out)]


def test_truncated_shard_is_named_and_skipped_and_images_beside_reported(faces_dir, tmp_path,
                                                                         caplog):
    """One truncated .tfrecord must not crash training with a DataLossError
    naming no file, and images beside the shards are not ignored silently."""
    shards = _shards(faces_dir, tmp_path / "shards")  # 3 shards of 2 faces
    bad = shards[1]
    with open(bad, "r+b") as f:
        f.truncate(bad.stat().st_size - 100)
    _write_good(tmp_path / "shards" / "extra", n=2)  # a mixed folder
    caplog.set_level(logging.WARNING, logger="faceres_tf.data")
    faces = [f.numpy() for f in clean_dataset(tmp_path / "shards", R)]
    assert len(faces) == 4  # the two intact shards are read
    assert f"Skipping damaged TFRecord shard {bad}: truncated: record 1" in caplog.text
    assert "Using 2 of 3 TFRecord shard(s)" in caplog.text
    assert "3 TFRecord shard(s) and 2 image file(s): only the shards are read" in caplog.text

    from faceres_tf.data import check_data_source

    for s in shards:
        s.write_bytes(s.read_bytes()[:30])
    with pytest.raises(DataError, match=r"None of the 3 TFRecord shard\(s\) under .* is usable "
                                        r"\(e\.g\. .*faces-00000\.tfrecord: truncated"):
        check_data_source(tmp_path / "shards", "data.train_dir")


def test_corrupt_payload_in_intact_shard_is_named(faces_dir, tmp_path):
    """A record whose frame is intact but whose bytes are damaged passes the
    quick check; TensorFlow's CRC check fails while training, and the error is
    turned into one naming the shard."""
    import tensorflow as tf

    from faceres_tf.data import explain_data_error
    from faceres_tf.data.tfrecords import shard_problem

    shards = _shards(faces_dir, tmp_path / "shards", shard_size=6)
    data = bytearray(shards[0].read_bytes())
    data[200] ^= 0xFF  # inside the first record's payload
    shards[0].write_bytes(bytes(data))
    assert shard_problem(shards[0]) == ""
    with pytest.raises(tf.errors.DataLossError) as err:
        list(make_dataset(_cfg(), "train", batch_size=2, repeat=False, folder=tmp_path / "shards"))
    assert str(shards[0]) not in str(err.value)  # TensorFlow does not say which file
    explained = explain_data_error(tmp_path / "shards", R, err.value)
    assert isinstance(explained, DataError)
    assert f"{shards[0]}: record 0: DataLossError" in str(explained)


def test_prepare_cli_reports_empty_input(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    rc = prepare_cli.main(["--input", str(tmp_path / "in"), "--output", str(tmp_path / "o"),
                           "--resolution", "16", "--quiet"])
    assert rc == 2 and "No images" in capsys.readouterr().err


# ----------------------------------------------------------- distribution
def test_two_replica_distributed_dataset(faces_dir):
    code = textwrap.dedent(f"""
        import os
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from faceres_tf import presets
        from faceres_tf.data import make_dataset
        cfg = presets.get("test")
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        seen = []
        def fn(ctx):
            seen.append((ctx.num_input_pipelines, ctx.input_pipeline_id))
            return make_dataset(cfg, "train", batch_size=4, input_context=ctx, folder={str(faces_dir)!r})
        dist = strategy.distribute_datasets_from_function(fn)
        d, t = next(iter(dist))
        shapes = [tuple(x.shape) for x in strategy.experimental_local_results(d)]
        shapes += [tuple(x.shape) for x in strategy.experimental_local_results(t)]
        print("REPLICAS", strategy.num_replicas_in_sync, "SHAPES", shapes, "SEEN", seen)
    """)
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, cwd=str(REPO), env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    line = [ln for ln in res.stdout.splitlines() if ln.startswith("REPLICAS")][0]
    assert line.startswith("REPLICAS 2 ")
    assert f"SHAPES {[(2, R, R, 3)] * 4}" in line, line


# ---------------------------------------------------------------- bundle
def test_bundled_sample_faces():
    if not BUNDLED.is_dir():
        pytest.skip("data/ not present")
    train, val, lq = (list_faces(BUNDLED / s) for s in ("train", "val", "real_lq"))
    assert len(train) >= 40 and len(val) >= 8 and len(lq) >= 6
    names = {Path(p).stem for p in train}
    assert not names & {Path(p).stem for p in val}
    for p in (train[0], val[0], lq[0]):
        assert read_rgb(p).shape == (256, 256, 3)
    assert (BUNDLED / "README.md").is_file()


def test_interrupted_prepare_is_warned_about(faces_dir, tmp_path, caplog):
    """Complete shards + a short one and no prepare.json (an interrupted
    faceres-prepare) are not used without a word."""
    out = tmp_path / "shards"
    _shards(faces_dir, out, shard_size=4)  # 4 + 2 faces
    caplog.set_level(logging.WARNING, logger="faceres_tf.data")
    assert len(list(clean_dataset(out, R))) == 6
    assert "prepare.json" not in caplog.text  # a finished preparation: silent
    (out / "prepare.json").unlink()
    caplog.clear()
    assert len(list(clean_dataset(out, R))) == 6  # still usable
    assert "holds 2 faceres-prepare shard(s) but no prepare.json" in caplog.text
    assert "interrupted" in caplog.text


def test_links_to_one_image_count_once(tmp_path, caplog):
    """Links to one image count as one face (not 10,000 links as 10,000 faces)."""
    folder = tmp_path / "faces"
    real, other = _write_good(folder, n=2)
    for i in range(30):
        (folder / f"link_{i:02d}.png").symlink_to(real)
    os.link(other, folder / "hard_link.png")
    caplog.set_level(logging.WARNING, logger="faceres_tf.data")
    assert sorted(Path(p).name for p in list_faces(folder)) == ["good_0.png", "good_1.png"]
    assert "33 image files under" in caplog.text and "only 2 distinct images" in caplog.text
    assert len(list(clean_dataset(folder, R))) == 2
