"""Alignment, detection, paste-back, colour correction and image I/O (faceres_tf.face)."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from faceres_tf import image_io  # noqa: E402
from faceres_tf.face import alignment, color, face_mask, paste_back  # noqa: E402
from faceres_tf.face.detection import FaceDetector  # noqa: E402
from faceres_tf.face.pipeline import FacePipeline  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
COUPLE = DATA / "deepface_test_photos" / "couple.jpg"
BLAKE = DATA / "gfpgan_whole_imgs" / "Blake_Lively.jpg"
PHOTO = Path(__file__).resolve().parents[1] / "data" / "photos" / "gfpgan_Blake_Lively.jpg"  # bundled
needs_data = pytest.mark.skipif(not COUPLE.exists(), reason=f"shared test photos not found at {DATA}")


def _similarity(angle_deg, scale, tx, ty):
    a = np.deg2rad(angle_deg)
    return np.array([[scale * np.cos(a), -scale * np.sin(a), tx], [scale * np.sin(a), scale * np.cos(a), ty]])


@pytest.fixture(scope="module")
def detector():
    return FaceDetector()


@pytest.fixture(scope="module")
def couple_rgb():
    if not COUPLE.exists():
        pytest.skip(f"shared test photos not found at {DATA}")
    return image_io.read_image(COUPLE).rgb


# ---- alignment ------------------------------------------------------------------
@pytest.mark.parametrize("angle,scale,tx,ty", [(0, 1, 0, 0), (17, 0.4, 812.5, -30), (-65, 3.7, 12, 900)])
def test_similarity_recovers_synthetic_transform(angle, scale, tx, ty):
    tpl = alignment.template(512)
    photo_to_tpl = _similarity(angle, scale, tx, ty)
    landmarks = alignment.transform_points(tpl, alignment.invert(photo_to_tpl))  # template placed in a photo
    m = alignment.alignment_matrix(landmarks, 512)
    np.testing.assert_allclose(m, photo_to_tpl, atol=1e-6)
    assert np.abs(alignment.transform_points(landmarks, m) - tpl).max() < 1e-6


def test_similarity_never_reflects():
    tpl = alignment.template(64)
    mirrored = tpl * np.array([-1.0, 1.0])
    m = alignment.estimate_similarity(mirrored, tpl)
    assert np.linalg.det(m[:, :2]) > 0


def test_template_scales_with_resolution():
    np.testing.assert_allclose(alignment.template(256), alignment.FFHQ_TEMPLATE_512 / 2)
    with pytest.raises(ValueError):
        alignment.estimate_similarity(np.zeros((5, 2)), alignment.template(32))


@pytest.mark.parametrize("face_scale", [1.5, 0.3])  # enlarging, and shrinking > 2x (anti-aliased path)
def test_warp_face_puts_landmarks_on_template(face_scale):
    """Dots drawn at the photo landmarks appear at the template pixels of the crop."""
    r = 64
    tpl = alignment.template(r)
    photo_to_tpl = _similarity(20, face_scale, -15.0, 8.0)
    landmarks = alignment.transform_points(tpl, alignment.invert(photo_to_tpl))
    h, w = 600, 600
    photo = np.zeros((h, w, 3), np.uint8)
    for x, y in landmarks:
        cv2.circle(photo, (int(round(x)), int(round(y))), max(2, int(2 / face_scale)), (255, 255, 255), -1)
    m = alignment.alignment_matrix(landmarks, r)
    crop = alignment.warp_face(photo, m, r)[..., 0].astype(np.float64)
    for tx, ty in tpl:
        x0, y0 = int(tx) - 3, int(ty) - 3
        patch = crop[y0:y0 + 8, x0:x0 + 8]
        ys, xs = np.mgrid[y0:y0 + 8, x0:x0 + 8]
        cx, cy = (patch * xs).sum() / patch.sum(), (patch * ys).sum() / patch.sum()
        assert abs(cx - tx) < 1.0 and abs(cy - ty) < 1.0, (cx, cy, tx, ty)


@needs_data
def test_real_landmarks_and_synthetic_transform(detector, couple_rgb):
    faces = detector.detect(couple_rgb)
    lm = faces[0].landmarks
    known = _similarity(-12, 0.8, 40, -25)
    moved = alignment.transform_points(lm, known)
    m = alignment.estimate_similarity(moved, lm)
    assert np.abs(alignment.transform_points(moved, m) - lm).max() < 1.0


@needs_data
def test_redetected_landmarks_of_aligned_crop_are_near_template(detector, couple_rgb):
    r = 256
    for face in detector.detect(couple_rgb):
        crop = alignment.warp_face(couple_rgb, alignment.alignment_matrix(face.landmarks, r), r)
        again = detector.detect(crop)
        assert again, "no face found in the aligned crop"
        err = np.linalg.norm(again[0].landmarks - alignment.template(r), axis=1)
        assert err.mean() < 0.03 * r, err  # real faces differ from the template a little


# ---- detection --------------------------------------------------------------------
@needs_data
def test_detects_faces_in_real_photos(detector, couple_rgb):
    couple = detector.detect(couple_rgb)
    assert len(couple) == 2
    assert all(f.confidence > 0.95 for f in couple)
    for f in couple:
        x0, y0, x1, y1 = f.box
        assert x0 <= f.landmarks[:, 0].min() and f.landmarks[:, 0].max() <= x1
        assert f.landmarks[0, 0] < f.landmarks[1, 0]  # eye on the image's left first
    blake = detector.detect(image_io.read_image(BLAKE).rgb)
    assert len(blake) >= 1 and blake[0].confidence > 0.95


@needs_data
def test_detection_on_downscaled_copy_maps_back(detector, couple_rgb):
    """A huge photo is detected on a small copy; landmarks come back in full-size pixels."""
    big = cv2.resize(couple_rgb, None, fx=2.0, fy=2.0, interpolation=cv2.INTER_LINEAR)  # 4560 x 3176
    small_faces = detector.detect(couple_rgb)
    big_faces = detector.detect(big)
    assert len(big_faces) == len(small_faces) == 2
    for a, b in zip(small_faces, big_faces):
        expected = (a.landmarks + 0.5) * 2.0 - 0.5
        assert np.abs(b.landmarks - expected).max() < 0.03 * b.size


# ---- paste-back --------------------------------------------------------------------
def test_feather_mask_is_soft_and_zero_at_border():
    m = paste_back.feather_mask(128)
    assert m.shape == (128, 128) and m.dtype == np.float32
    assert m[64, 64] == pytest.approx(1.0, abs=1e-4)
    assert max(m[0].max(), m[-1].max(), m[:, 0].max(), m[:, -1].max()) < 0.01
    assert np.all(np.diff(m[64, :64]) >= -1e-7)  # monotone ramp, no step


def _paste_roundtrip(photo, landmarks, r, upscale):
    m = alignment.alignment_matrix(landmarks, r)
    crop = alignment.warp_face(photo, m, r)
    h, w = photo.shape[:2]
    canvas0 = cv2.resize(photo, (round(w * upscale), round(h * upscale)), interpolation=cv2.INTER_CUBIC) \
        if upscale != 1 else photo.copy()
    canvas = canvas0.copy()
    mm = paste_back.rescale_matrix(m, upscale)
    paste_back.paste_face(canvas, crop, mm)
    # where the mask is fully on (alpha ~ 1) and where it is off (outside the square)
    inv = alignment.invert(mm)
    alpha = cv2.warpAffine(paste_back.feather_mask(r), inv, (canvas.shape[1], canvas.shape[0]))
    return canvas0, canvas, alpha


@needs_data
@pytest.mark.parametrize("upscale", [1.0, 2.0])
def test_paste_back_of_unmodified_crop_reproduces_photo(detector, couple_rgb, upscale):
    photo = cv2.resize(couple_rgb, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA)  # faces ~140 px
    face = detector.detect(photo)[0]
    canvas0, canvas, alpha = _paste_roundtrip(photo, face.landmarks, 256, upscale)
    diff = np.abs(canvas.astype(np.int32) - canvas0.astype(np.int32)).max(-1)
    inside = alpha > 0.99
    assert inside.sum() > 1000
    assert diff[inside].mean() < 3.0  # two resamplings (photo -> crop -> photo) only
    assert np.all(diff[alpha == 0] == 0)  # outside the pasted square: untouched


def test_paste_face_outside_canvas_is_a_no_op():
    canvas = np.full((50, 50, 3), 7, np.uint8)
    m = np.array([[1.0, 0, 500.0], [0, 1.0, 500.0]])  # aligned frame far away from the canvas
    paste_back.paste_face(canvas, np.zeros((32, 32, 3), np.uint8), m)
    assert np.all(canvas == 7)


# ---- colour correction --------------------------------------------------------------
def test_color_correction_removes_cast_and_keeps_detail():
    rng = np.random.default_rng(0)
    ref = np.clip(rng.normal(120, 30, (64, 64, 3)), 0, 255).astype(np.uint8)
    ref = cv2.GaussianBlur(ref, (0, 0), 2)  # blurry input
    restored = np.clip(ref.astype(np.int32) + rng.normal(0, 12, ref.shape) + [40, -10, 0], 0, 255).astype(np.uint8)
    out = color.match_color(restored, ref)
    w = color.face_weights(64)[..., None]
    mean = lambda x: (x.astype(np.float64) * w).sum((0, 1))  # noqa: E731
    assert np.abs(mean(out) - mean(ref)).max() < 3.0 < np.abs(mean(restored) - mean(ref)).max()
    # lightness detail of the restoration is kept (not shrunk to the blurry input's)
    assert cv2.Laplacian(out[..., 1], cv2.CV_64F).std() > 1.5 * cv2.Laplacian(ref[..., 1], cv2.CV_64F).std()


def test_color_correction_of_gray_reference_gives_gray():
    rng = np.random.default_rng(1)
    gray = np.repeat(rng.integers(0, 255, (32, 32, 1), dtype=np.uint8), 3, axis=2)
    colourful = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
    out = color.match_color(colourful, gray).astype(np.int32)
    assert np.abs(out[..., 0] - out[..., 1]).mean() < 2 and np.abs(out[..., 1] - out[..., 2]).mean() < 2


# ---- landmark mask -------------------------------------------------------------------
@pytest.mark.skipif(bool(face_mask.unavailable_reason()), reason="dlib / the 68-point model not installed")
@pytest.mark.skipif(not PHOTO.exists(), reason="bundled photos in data/photos missing")
def test_landmark_mask_keeps_hair_and_background():
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
