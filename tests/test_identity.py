"""Identity embedders: dlib on real photos; FaceNet / interface with random weights."""

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from faceres_tf.metrics.identity import FFHQ_FACE_BOX, DlibEmbedder, dlib_model_dir, get_embedder

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PHOTOS = DATA / "deepface_test_photos"


def _load(path, max_side=400):
    from PIL import Image

    im = Image.open(path).convert("RGB")
    scale = max_side / max(im.size)
    if scale < 1:
        im = im.resize((round(im.width * scale), round(im.height * scale)), Image.BILINEAR)
    return np.asarray(im)


@pytest.fixture(scope="module")
def dlib_embedder():
    return get_embedder("dlib", aligned=False)


def test_model_files_are_found():
    folder = dlib_model_dir()
    assert (folder / "dlib_face_recognition_resnet_model_v1.dat").is_file()
    assert (folder / "shape_predictor_5_face_landmarks.dat").is_file()


def test_same_person_closer_than_other_people(dlib_embedder):
    if not PHOTOS.is_dir():
        pytest.skip(f"shared test photos not found at {PHOTOS}")
    # data README: img1/img2 same person, img8/img9 same person, img3 someone else
    names = ["img1", "img2", "img3", "img8", "img9"]
    emb = dlib_embedder.embed([_load(PHOTOS / f"{n}.jpg") for n in names])
    assert emb.shape == (5, 128) and np.all(np.isfinite(emb))
    d = np.linalg.norm(emb[:, None] - emb[None], axis=-1)
    same = [d[0, 1], d[3, 4]]
    different = [d[0, 2], d[1, 2], d[0, 3], d[1, 4], d[2, 3]]
    assert max(same) < 0.6 < min(different)


def test_blurred_face_stays_closest_to_its_original(dlib_embedder):
    folder = DATA / "gpen_ffhq10"
    if not folder.is_dir():
        pytest.skip(f"shared test data not found at {folder}")
    import cv2

    faces = [_load(folder / f"0000{i}.png", 256) for i in range(4)]
    blurred = cv2.GaussianBlur(faces[0], (0, 0), 2.0)
    emb = get_embedder("dlib", aligned=True).embed(faces + [blurred])
    d = np.linalg.norm(emb[:4] - emb[4], axis=1)
    assert np.argmin(d) == 0 and d[0] < 0.6


def test_aligned_fallback_box_on_undetectable_input():
    emb = DlibEmbedder(aligned=True)
    flat = np.full((128, 128, 3), 128, np.uint8)  # no face: detector finds nothing
    out = emb.embed([flat])
    assert out.shape == (1, 128) and np.all(np.isfinite(out))
    assert emb.fallbacks == 1
    box = emb.face_box(flat)
    assert (box.left(), box.top()) == (int(FFHQ_FACE_BOX[0] * 128), int(FFHQ_FACE_BOX[1] * 128))
    with pytest.warns(UserWarning, match="no face"):
        assert np.all(np.isnan(DlibEmbedder(aligned=False).embed([flat])))


def test_get_embedder_errors(tmp_path):
    from faceres_tf.weights import MissingWeightsError

    with pytest.raises(ValueError, match="unknown identity network"):
        get_embedder("arcface")
    with pytest.raises(MissingWeightsError, match="FaceNet"):
        get_embedder("facenet", weights=tmp_path / "missing.h5")


def test_facenet_random_weights_shape_and_unit_norm(tmp_path):
    from faceres_tf.metrics.facenet_model import build_facenet
    from faceres_tf.metrics.identity import FaceNetEmbedder

    model = build_facenet()
    assert model.output_shape == (None, 512)
    path = tmp_path / "facenet.weights.h5"
    model.save_weights(path)
    emb = get_embedder("facenet", weights=path)  # loading path works end to end
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (100, 90, 3), dtype=np.uint8) for _ in range(2)]
    out = emb.embed(images)
    assert out.shape == (2, 512)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(out, FaceNetEmbedder(model=model).embed(images), atol=1e-5)
