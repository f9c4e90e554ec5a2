"""Video input, the one-call Python API, the 68-landmark paste-back mask and
the bundle's licence record (issue 23). Random ``test`` preset generator
(32 px) and the bundled sample photos: plumbing, not quality."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


from run_dirs import make_run_dir  # noqa: E402

import faceres_tf  # noqa: E402
from faceres_tf import image_io, restore  # noqa: E402
from faceres_tf.face import face_mask  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PHOTO = REPO / "data" / "photos" / "gfpgan_Blake_Lively.jpg"
pytestmark = pytest.mark.skipif(not PHOTO.exists(), reason="bundled photos in data/photos missing")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return make_run_dir(tmp_path_factory.mktemp("model"), seed=5)


def jitter_clip(path: Path, frames: int = 6, size: int = 96, fps: float = 12.0) -> None:
    """A short clip around the woman's face of the sample photo, moved by a
    few pixels per frame (hand-held jitter)."""
    rgb = image_io.read_image(PHOTO).rgb
    rng = np.random.default_rng(0)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (size, size))
    for _ in range(frames):
        dx, dy = rng.integers(-3, 4, 2)
        crop = rgb[20 + dy:300 + dy, 370 + dx:650 + dx]
        writer.write(cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)[..., ::-1].copy())
    writer.release()


def test_video_is_restored_frame_by_frame_with_rate_and_flicker(run_dir, tmp_path, capsys):
    clip = tmp_path / "in" / "clip.mp4"
    clip.parent.mkdir()
    jitter_clip(clip)
    (tmp_path / "in" / "broken.mov").write_bytes(b"not a video")
    rc = restore.main(["-i", str(clip.parent), "-o", str(tmp_path / "out"), "--checkpoint", run_dir, "--quiet",
                       "--suffix", "r"])
    cap = capsys.readouterr()
    assert rc == 1 and "1 succeeded, 1 failed" in cap.out, cap.out + cap.err
    assert re.search(r"broken\.mov: not a readable video", cap.err)
    m = re.search(r"clip\.mp4: 6 frames at 12 fps, (\d+) faces .*input (\d+\.\d+), output (\d+\.\d+)", cap.err)
    assert m and int(m.group(1)) >= 5, cap.err  # the face is found in (nearly) every frame
    out = tmp_path / "out" / "restored_videos" / "clip_r.mp4"
    video = cv2.VideoCapture(str(out))
    assert video.get(cv2.CAP_PROP_FPS) == pytest.approx(12.0)
    frames = []
    while True:
        ok, frame = video.read()
        if not ok:
            break
        frames.append(frame)
    assert len(frames) == 6 and frames[0].shape == (96, 96, 3)
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".tmp.mp4")]
    rc = restore.main(["-i", str(clip), "-o", str(tmp_path / "o2"), "--checkpoint", run_dir, "--quiet",
                       "--num_samples", "2"])
    assert rc == 2 and "videos are restored" in capsys.readouterr().err


def test_restore_image_and_restore_faces(run_dir):
    rgb = image_io.read_image(PHOTO).rgb
    restored, faces = faceres_tf.restore_image(rgb, checkpoint=run_dir, upscale=2)
    assert restored.dtype == np.uint8 and restored.shape == (2 * rgb.shape[0], 2 * rgb.shape[1], 3)
    assert len(faces) == 2 and {"box", "confidence", "landmarks", "crop", "restored"} <= set(faces[0])
    assert faces[0]["restored"].shape == (32, 32, 3) and faces[0]["restored"].dtype == np.uint8
    crops = np.stack([cv2.resize(f["crop"], (80, 80)) for f in faces])
    out = faceres_tf.restore_faces(crops, checkpoint=run_dir, seed=-1)
    assert out.shape == (2, 80, 80, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, faceres_tf.restore_faces(crops, checkpoint=run_dir, seed=-1))
    with pytest.raises(ValueError, match="uint8 RGB"):
        faceres_tf.restore_image(rgb.astype(np.float32), checkpoint=run_dir)


def test_import_and_load_pretrained_are_quiet():
    code = "import faceres_tf; g = faceres_tf.load_pretrained(); print(g.faceres_config.model.resolution)"
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "FACERES_TF_VERBOSE")}
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=dict(env, PYTHONPATH=str(REPO)),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip().isdigit(), proc.stderr
    assert proc.stderr.strip() == "", proc.stderr


@pytest.mark.skipif(bool(face_mask.unavailable_reason()), reason="dlib / the 68-point model not installed")
def test_landmark_mask_keeps_hair_and_background():
    from faceres_tf.face.detection import FaceDetector
    from faceres_tf.face.pipeline import FacePipeline

    class Brighten:  # a "restoration" that changes every pixel visibly
        resolution, batch_size = 128, 8

        def __call__(self, faces, seeds):
            return np.minimum(faces.astype(np.int16) + 60, 255).astype(np.uint8)

    rgb = image_io.read_image(PHOTO).rgb
    pipeline = FacePipeline(Brighten(), FaceDetector(), color_correction=False)
    job = pipeline.prepare(image_io.LoadedImage(rgb))
    assert job.faces and all(f.mask is not None for f in job.faces)
    pipeline.restore([job])
    shaped = pipeline.compose(job).astype(int)
    for f in job.faces:
        f.mask = None
    square = pipeline.compose(job).astype(int)
    changed_shaped = np.abs(shaped - rgb).max(-1) > 10
    changed_square = np.abs(square - rgb).max(-1) > 10
    assert changed_shaped.sum() < 0.7 * changed_square.sum()  # hair / background inside the square kept
    assert not (changed_shaped & ~changed_square).any()  # never beyond the square
    x0, y0, x1, y1 = (int(v) for v in job.faces[0].detection.box)
    centre = changed_shaped[(y0 + y1) // 2 - 5:(y0 + y1) // 2 + 5, (x0 + x1) // 2 - 5:(x0 + x1) // 2 + 5]
    assert centre.all()  # the face itself is replaced


def test_mask_from_implausible_landmarks_is_refused():
    r = 128
    assert face_mask.mask_from_landmarks(np.full((68, 2), r / 2.0), r) is None  # a point, no area


def test_bundles_carry_a_licence_and_no_machine_paths(tmp_path):
    from faceres_tf import pretrained

    record = pretrained.model_info()
    assert "non-commercial" in record["licence"]
    text = (Path(pretrained.__file__).parent / f"{pretrained.DEFAULT_MODEL}.json").read_text()
    assert not re.search(r'"(/|[A-Za-z]:[\\/])', text)
    cfg = faceres_tf.override(faceres_tf.presets.get("test"), {"data.train_dir": "/home/me/faces"})
    meta, _ = pretrained.save_bundle(faceres_tf.build_generator(cfg), cfg, "t", {"run_dir": "/srv/x/run"},
                                     tmp_path)
    saved = pretrained.model_info("t", tmp_path)
    assert saved["config"]["data"]["train_dir"] == "faces" and saved["info"]["run_dir"] == "run"
    assert saved["licence"] == pretrained.WEIGHTS_LICENCE
    assert pretrained.load_pretrained("t", tmp_path).faceres_config.model.resolution == 32
