"""Video input (faceres_tf.face.video, through faceres-restore) and the
one-call Python API (faceres_tf.api). Random ``test`` preset generator
(32 px) and the bundled sample photos: plumbing, not quality."""

from __future__ import annotations

import os
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


from run_dirs import make_run_dir  # noqa: E402

import faceres_tf  # noqa: E402
from faceres_tf import image_io, restore  # noqa: E402

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
