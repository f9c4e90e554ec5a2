"""faceres-restore as a photo restorer expects it, and its reliability:
peers' flags and output layout, the
fidelity knob, the output lock, full disks and Ctrl-C, long names, range
checks, unwritable outputs, a checkpoint deleted while loading.

Uses the bundled sample photos (data/photos) and random ``test`` preset
generators (32 px): the plumbing, not restoration quality.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402
from run_dirs import make_run_dir  # noqa: E402

import faceres_tf  # noqa: E402
from faceres_tf import export, export_tflite, image_io, restore  # noqa: E402
from faceres_tf.face import outputs as out_files  # noqa: E402
from faceres_tf.face.generator_runner import GeneratorRunner, ModelLoadError, _knob_trained  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PHOTO = REPO / "data" / "photos" / "gfpgan_Blake_Lively.jpg"
SUMMARY = re.compile(r"(\d+) succeeded, (\d+) failed, (\d+) faces restored, (\d+) skipped faces")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return make_run_dir(tmp_path_factory.mktemp("plain"), seed=3)


@pytest.fixture(scope="module")
def knob_run_dir(tmp_path_factory):
    return make_run_dir(tmp_path_factory.mktemp("knob"), seed=3, fidelity_input=True)


@pytest.fixture
def photos(tmp_path):
    if not PHOTO.exists():
        pytest.skip("bundled photos in data/photos missing")
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(PHOTO, folder / "a.jpg")
    shutil.copy(PHOTO, folder / "b.png")
    return folder


def _run(capsys, *args):
    rc = restore.main([*map(str, args), "--quiet"])
    cap = capsys.readouterr()
    m = SUMMARY.search(cap.out)
    return rc, cap.out + cap.err, tuple(int(v) for v in m.groups()) if m else None


def _files(folder: Path) -> list:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()
                  and p.name != out_files.LOCK_NAME)


def test_peer_flags_and_layout(run_dir, photos, tmp_path, capsys):
    out = tmp_path / "out"
    rc, text, counts = _run(capsys, "-i", photos, "-o", out, "--checkpoint", run_dir, "-s", "2",
                            "--suffix", "v1", "--ext", "auto", "--only_center_face")
    assert rc == 0 and counts[:3] == (2, 0, 2), text
    files = _files(out)
    for stem, ext in (("a", "jpg"), ("b", "png")):  # --ext auto follows each input
        assert f"restored_imgs/{stem}_v1.{ext}" in files, files
        assert f"restored_faces/{stem}_00_v1.{ext}" in files
        assert f"cropped_faces/{stem}_00.{ext}" in files and f"cmp/{stem}_00.{ext}" in files
    photo = image_io.read_image(PHOTO).rgb
    restored = image_io.read_image(out / "restored_imgs" / "b_v1.png").rgb
    assert restored.shape == (2 * photo.shape[0], 2 * photo.shape[1], 3)  # -s 2
    crop = image_io.read_image(out / "cropped_faces" / "b_00.png").rgb
    assert crop.shape == (32, 32, 3)
    # --has_aligned is --aligned: the crops go through without detection
    rc, text, counts = _run(capsys, "-i", out / "cropped_faces", "-o", tmp_path / "al", "--checkpoint", run_dir,
                            "--has_aligned")
    assert rc == 0 and counts[:2] == (2, 0) and not (tmp_path / "al" / "cropped_faces").exists(), text


def test_fidelity_knob_through_cli_runner_and_saved_model(run_dir, knob_run_dir, photos, tmp_path, capsys):
    crop_dir = tmp_path / "crops"
    crop_dir.mkdir()
    rgb = image_io.read_image(PHOTO).rgb[40:200, 420:580]
    image_io.write_image(crop_dir / "f.png", rgb)
    # a model without the knob: -w != 1 is a usage error naming the model
    rc, text, _ = _run(capsys, "-i", crop_dir, "-o", tmp_path / "x", "--checkpoint", run_dir, "--aligned",
                       "-w", "0.5")
    assert rc == 2 and "has no fidelity input" in text and run_dir in text, text
    assert len(text.strip().splitlines()) == 1
    rc, text, _ = _run(capsys, "-i", crop_dir, "-o", tmp_path / "x", "--checkpoint", run_dir, "--aligned",
                       "-w", "1.5")
    assert rc == 2 and "--fidelity must be in [0, 1]" in text
    faces = {}
    for w in ("0", "1"):
        rc, text, _ = _run(capsys, "-i", crop_dir, "-o", tmp_path / w, "--checkpoint", knob_run_dir,
                           "--aligned", "-w", w, "--seed", "-1", "--no_color_correction")
        assert rc == 0, text
        faces[w] = image_io.read_image(tmp_path / w / "restored_faces" / "f.png").rgb
    assert np.abs(faces["0"].astype(int) - faces["1"].astype(int)).max() > 0  # the knob acts

    from faceres_tf.face.generator_runner import GeneratorRunner
    from faceres_tf.training import load_generator

    g = load_generator(knob_run_dir)[0]
    sm = export.export_saved_model(g, tmp_path / "export" / "saved_model")
    assert GeneratorRunner.from_saved_model(tmp_path / "export").has_fidelity  # the export folder works too
    sig = tf.saved_model.load(sm).signatures["serving_default"]
    assert "fidelity" in sig.structured_input_signature[1]
    batch = np.stack([faces["1"]] * 2)
    for w in (0.0, 1.0):
        from_sm = GeneratorRunner.from_saved_model(sm).set_fidelity(w)(batch, [-1, -1])
        from_keras = GeneratorRunner.from_keras(g).set_fidelity(w)(batch, [-1, -1])
        np.testing.assert_allclose(from_sm.astype(int), from_keras.astype(int), atol=1)


def test_second_restore_into_a_locked_folder_is_refused(run_dir, photos, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    with out_files.OutputLock(out):
        rc, text, _ = _run(capsys, "-i", photos, "-o", out, "--checkpoint", run_dir)
    assert rc == 2 and "in use by another faceres-restore" in text and not _files(out), text
    rc, text, _ = _run(capsys, "-i", photos, "-o", out, "--checkpoint", run_dir)  # released
    assert rc == 0, text


def test_concurrent_writes_to_one_name_use_unique_temporaries(tmp_path):
    target = tmp_path / "x.png"
    images = [np.full((16, 16, 3), v, np.uint8) for v in range(0, 160, 20)]
    results = []
    threads = [threading.Thread(target=lambda im=im: results.append(image_io.write_image(target, im, True)))
               for im in images]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [True] * len(images)
    value = int(image_io.read_image(target).rgb[0, 0, 0])
    assert value in range(0, 160, 20)  # one complete image, not a mix
    assert os.listdir(tmp_path) == ["x.png"]


def test_full_disk_stops_the_run_and_ctrl_c_leaves_no_temporary(run_dir, photos, tmp_path, capsys, monkeypatch):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")

    def to_dev_full(f, data):
        with open("/dev/full", "wb") as full:
            full.write(data)
            full.flush()

    monkeypatch.setattr(image_io, "_write_file", to_dev_full)
    out = tmp_path / "out"
    rc, text, counts = _run(capsys, "-i", photos, "-o", out, "--checkpoint", run_dir, "--batch_size", "1")
    assert rc == 1 and "no space left" in text and "stopped" in text, text
    assert counts[:2] == (0, 1), text  # the first photo failed, the second was not attempted
    assert not [p for p in out.rglob("*") if p.is_file() and p.name != out_files.LOCK_NAME]

    def interrupted(f, data):
        f.write(data[:10])
        raise KeyboardInterrupt

    monkeypatch.setattr(image_io, "_write_file", interrupted)
    with pytest.raises(KeyboardInterrupt):
        image_io.write_image(tmp_path / "k" / "x.png", np.zeros((8, 8, 3), np.uint8))
    assert os.listdir(tmp_path / "k") == []


def test_long_names_seed_and_upscale_ranges_unwritable_output(run_dir, photos, tmp_path, capsys):
    long_dir = tmp_path / "long"
    long_dir.mkdir()
    name = "é" * 60 + "x" * 120 + ".jpg"  # 244 bytes: fits, but not with suffixes added
    shutil.copy(PHOTO, long_dir / name)
    rc, text, counts = _run(capsys, "-i", long_dir, "-o", tmp_path / "o", "--checkpoint", run_dir,
                            "--num_samples", "2", "--suffix", "s" * 32, "--only_center_face")
    assert rc == 0 and counts[:2] == (1, 0), text
    written = _files(tmp_path / "o")
    assert len(written) == 6 and all(len(Path(p).name.encode()) <= 255 for p in written), written
    # usage errors, found before the model is loaded (a bogus --saved_model is never reached)
    bogus = str(tmp_path / "no_model")
    for args, message in ((["--seed", "2147483648"], "--seed must be"),
                          (["--seed", "2147483647", "--num_samples", "2"], "--seed must be"),
                          (["--seed", "-2"], "--seed must be"),
                          (["-s", "1e-9"], "--upscale must be in"), (["-s", "100"], "--upscale must be in")):
        rc, text, _ = _run(capsys, "-i", photos, "-o", tmp_path / "u", "--saved_model", bogus, *args)
        assert rc == 2 and message in text and len(text.strip().splitlines()) == 1, (args, text)
    if os.geteuid() != 0:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        unwritable = ro
    else:  # root writes anywhere; /proc/self accepts no new files
        unwritable = Path("/proc/self")
    rc, text, _ = _run(capsys, "-i", photos, "-o", unwritable, "--saved_model", bogus)
    assert rc == 2 and "cannot write into" in text and "saved_model" not in text, text


def test_checkpoint_deleted_while_loading_falls_back_to_the_previous(tmp_path, capsys, monkeypatch):
    from faceres_tf.face.generator_runner import GeneratorRunner
    from faceres_tf.training import checkpoint as ckpt_files

    run = make_run_dir(tmp_path, seed=3, checkpoints=2)
    real = ckpt_files.find_restorable

    def chosen_then_deleted(ckpt_dir):  # the trainer removes the newest right after we pick it
        plan = real(ckpt_dir)
        for f in Path(ckpt_dir).glob(Path(plan.chosen.prefix).name + ".*"):
            f.unlink()
        return plan

    monkeypatch.setattr(ckpt_files, "find_restorable", chosen_then_deleted)
    from faceres_tf import cli

    with cli.log_to_stderr():
        runner = GeneratorRunner.from_checkpoint(run)
    err = capsys.readouterr().err
    assert runner.resolution == 32
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "using ckpt-1" in lines[0] and "is the run training" in lines[0], err


def test_small_face_message_does_not_round_to_the_threshold():
    from faceres_tf.face.detection import DetectedFace
    from faceres_tf.face.pipeline import FacePipeline

    class Detector:
        def detect(self, rgb):
            return [DetectedFace((10.0, 10.0, 29.6, 29.6), 0.99, np.zeros((5, 2)))]

    class Runner:
        resolution = 32

    job = FacePipeline(Runner(), Detector(), min_face_size=20, mask="square").prepare(
        image_io.LoadedImage(np.zeros((64, 64, 3), np.uint8)))
    assert job.skipped[0][1] == "too small (19.6 px < 20 px)"


def test_tflite_export_takes_the_fidelity_input():
    cfg = faceres_tf.presets.get("test")
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, fidelity_input=True))
    g = faceres_tf.build_generator(cfg)
    runner = tf.lite.Interpreter(model_content=export_tflite.tflite_bytes(g)).get_signature_runner()
    assert "fidelity" in runner.get_input_details()
    x = np.random.default_rng(0).integers(0, 255, (1, 32, 32, 3), dtype=np.uint8)
    noise = {k: np.zeros((1, h, w, 1), np.float32) for k, (h, w) in export_tflite.noise_layout(g).items()}
    serving = export.GeneratorServing(g)
    outs = []
    for w in (0.0, 1.0):
        lite = runner(image=x, fidelity=np.array([w], np.float32), **noise)["image"].astype(int)
        ref = serving.restore_uint8(tf.constant(x), tf.constant([-1]), tf.constant([w]))["image"].numpy()
        assert np.abs(lite - ref.astype(int)).max() <= 2  # float rounding of two graphs
        outs.append(lite)
    assert np.abs(outs[0] - outs[1]).max() > 2


def test_a_fidelity_input_trained_at_w1_only_refuses_other_w():
    """A model whose last config trained at w = 1 only (train.fidelity_one_prob = 1)
    keeps its fidelity input but refuses -w other than 1, naming why."""
    runner = GeneratorRunner(lambda *a: a[0], 32, has_fidelity=True, knob_trained=False,
                             description="bundled model x")
    assert runner.set_fidelity(1.0).fidelity == 1.0
    with pytest.raises(ModelLoadError, match="trained at w = 1 only"):
        runner.set_fidelity(0.5)
    assert GeneratorRunner(lambda *a: a[0], 32, has_fidelity=True).set_fidelity(0.5).fidelity == 0.5
    assert _knob_trained({"fidelity_one_prob": 0.6}) and not _knob_trained({"fidelity_one_prob": 1.0})
    assert _knob_trained({})  # the TrainConfig default (0.6)
