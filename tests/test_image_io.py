"""faceres_tf.image_io: the one image reader, its rules, and that data, evaluation
and restoration all see the same pixels for the same file."""

from __future__ import annotations

import os
import shutil

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image, ImageOps  # noqa: E402

from faceres_tf import image_io  # noqa: E402

R = 32
RNG = np.random.default_rng(13)


def _exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif


def _make_files(folder):
    """Writes odd-but-valid files; returns {name: expected uint8 (R, R, 3)}.

    Expectations are computed here from the source arrays with the documented
    rules (alpha over white, round(v / 257), EXIF applied), independently of
    the reader.
    """
    folder.mkdir(parents=True, exist_ok=True)
    expected = {}
    rgb = RNG.integers(0, 256, (R, R, 3), dtype=np.uint8)
    alpha = np.tile(np.linspace(0, 255, R).round().astype(np.uint8), (R, 1))  # 0 ... 255

    # 8-bit RGBA, alpha from 0 (transparent) to 255 (opaque) across the width.
    Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(folder / "rgba8.png")
    a = alpha[..., None] / 255.0
    expected["rgba8"] = np.rint(rgb * a + 255.0 * (1 - a)).astype(np.uint8)

    # 16-bit colour, values that are not multiples of 257 (the low byte matters).
    rgb16 = RNG.integers(0, 65536, (R, R, 3), dtype=np.uint16)
    cv2.imwrite(str(folder / "rgb16.png"), rgb16[..., ::-1])
    expected["rgb16"] = np.rint(rgb16 / 257.0).astype(np.uint8)

    # 16-bit gray.
    g16 = RNG.integers(0, 65536, (R, R), dtype=np.uint16)
    cv2.imwrite(str(folder / "gray16.png"), g16)
    expected["gray16"] = np.repeat(np.rint(g16 / 257.0).astype(np.uint8)[..., None], 3, axis=-1)

    # 16-bit RGBA.
    a16 = (alpha.astype(np.uint16) * 257)[..., None]
    cv2.imwrite(str(folder / "rgba16.png"), np.dstack([rgb16[..., ::-1], a16]))
    a = a16 / 65535.0
    expected["rgba16"] = np.rint((rgb16 / 65535.0 * a + (1 - a)) * 255).astype(np.uint8)

    # 8-bit gray + alpha.
    g8 = rgb[..., 0]
    Image.fromarray(np.dstack([g8, alpha]), "LA").save(folder / "gray_alpha.png")
    a = alpha / 255.0
    expected["gray_alpha"] = np.repeat(np.rint(g8 * a + 255 * (1 - a)).astype(np.uint8)[..., None],
                                       3, axis=-1)

    # Lossless PNG stored sideways with EXIF orientation 6 (rotate 90 clockwise to view).
    Image.fromarray(rgb).save(folder / "exif6.png", exif=_exif(6))
    expected["exif6"] = np.rot90(rgb, k=-1)

    # JPEG with EXIF orientation 8; reference: Pillow's own exif_transpose.
    Image.fromarray(rgb).save(folder / "exif8.jpg", exif=_exif(8), quality=95)
    with Image.open(folder / "exif8.jpg") as im:
        expected["exif8"] = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    assert not np.array_equal(expected["exif8"], np.asarray(Image.open(folder / "exif8.jpg")))
    return expected


@pytest.fixture(scope="module")
def odd_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("odd")
    return folder, _make_files(folder)


def test_rules_on_each_kind_of_file(odd_files):
    folder, expected = odd_files
    for path in sorted(folder.iterdir()):
        loaded = image_io.read_image(path)
        assert loaded.rgb.dtype == np.uint8 and loaded.rgb.flags.c_contiguous
        np.testing.assert_array_equal(loaded.rgb, expected[path.stem], err_msg=path.name)
        assert loaded.was_gray == path.stem.startswith("gray"), path.name
    assert "16-bit -> 8-bit" in image_io.read_image(folder / "rgb16.png").notes
    assert "alpha composited over white" in image_io.read_image(folder / "rgba8.png").notes
    assert "EXIF orientation 6 applied" in image_io.read_image(folder / "exif6.png").notes


def test_every_entry_point_reads_identical_pixels(odd_files, tmp_path, monkeypatch):
    """The data pipeline, evaluate's reader and the restore CLI give the same pixels."""
    folder, expected = odd_files
    names = sorted(p.name for p in folder.iterdir())

    # 1. training data: the tf.data pipeline (files are R x R, so no resize).
    from faceres_tf.data import clean_dataset

    data_pixels = [im.numpy() for im in clean_dataset(folder, R)]
    assert len(data_pixels) == len(names)

    # 2. evaluation: evaluate.load_pairs on gt / restored folders holding the same files.
    from faceres_tf import evaluate

    gt = shutil.copytree(folder, tmp_path / "gt")
    report = {"skipped": [], "resized": []}
    stems, restored, truth = evaluate.load_pairs(gt, gt, report)
    assert not report["skipped"] and not report["resized"]
    assert stems == [n.rsplit(".", 1)[0] for n in names]

    # 3. restoration: the restore CLI on aligned crops with an identity "generator"
    # and no colour correction, writing PNG (lossless): the output is what it read.
    from faceres_tf import restore
    from faceres_tf.face.generator_runner import GeneratorRunner

    monkeypatch.setattr(restore, "_load_runner",
                        lambda args: GeneratorRunner(lambda images, seeds: images, R))
    out = tmp_path / "restored"
    code = restore.main(["--input", str(folder), "--output", str(out), "--checkpoint", "unused",
                         "--aligned", "--no_color_correction", "--ext", "png", "--quiet"])
    assert code == 0

    for i, name in enumerate(names):
        stem = name.rsplit(".", 1)[0]
        want = expected[stem]
        np.testing.assert_array_equal(data_pixels[i], want, err_msg=f"data pipeline: {name}")
        np.testing.assert_array_equal(truth[i], want, err_msg=f"evaluate: {name}")
        np.testing.assert_array_equal(restored[i], want, err_msg=f"evaluate: {name}")
        restore_pixels = np.asarray(Image.open(out / "restored_faces" / f"{stem}.png").convert("RGB"))
        np.testing.assert_array_equal(restore_pixels, want, err_msg=f"restore: {name}")


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillow(tmp_path, orientation):
    rgb = RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    path = tmp_path / f"o{orientation}.png"
    Image.fromarray(rgb).save(path, exif=_exif(orientation))
    with Image.open(path) as im:
        want = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    np.testing.assert_array_equal(image_io.read_rgb(path), want)


def test_unreadable_files_raise_one_line_naming_the_file(tmp_path):
    good = tmp_path / "good.png"
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(good)
    data = good.read_bytes()
    (tmp_path / "truncated.png").write_bytes(data[: len(data) // 2])
    (tmp_path / "zero.jpg").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("not an image")
    for name in ("truncated.png", "zero.jpg", "text.jpg", "missing.png"):
        with pytest.raises(image_io.ImageReadError) as info:
            image_io.read_image(tmp_path / name)
        message = str(info.value)
        assert name in message and "\n" not in message
    assert isinstance(image_io.ImageReadError("x"), ValueError)


def test_uint8_float_conversions_numpy_and_tensorflow_agree():
    import tensorflow as tf

    u8 = np.arange(256, dtype=np.uint8)
    f = image_io.uint8_to_float(u8)
    assert f.dtype == np.float32 and f[0] == -1.0 and f[-1] == 1.0
    np.testing.assert_array_equal(image_io.float_to_uint8(f), u8)  # exact round trip
    x = np.concatenate([np.linspace(-1.5, 1.5, 2001, dtype=np.float32),
                        (np.arange(256, dtype=np.float32) + 0.5) / 127.5 - 1.0])  # .5 ties
    want = np.clip(np.rint((x.astype(np.float64) + 1) * 127.5), 0, 255)
    got_np = image_io.float_to_uint8(x)
    got_tf = image_io.float_to_uint8(tf.constant(x))
    assert tf.is_tensor(got_tf) and got_tf.dtype == tf.uint8
    np.testing.assert_array_equal(got_np, got_tf.numpy())
    assert np.abs(got_np.astype(int) - want).max() <= 1  # float32 ties may round either way
    np.testing.assert_array_equal(image_io.uint8_to_float(tf.constant(u8)).numpy(), f)


def test_depth_to_uint8():
    v = np.array([0, 128, 129, 257 * 100, 257 * 100 + 128, 65535], np.uint16)
    np.testing.assert_array_equal(image_io.depth_to_uint8(v), [0, 0, 1, 100, 100, 255])
    np.testing.assert_array_equal(image_io.depth_to_uint8(np.array([-0.5, 0.5, 2.0])), [0, 128, 255])
    with pytest.raises(image_io.ImageReadError, match="int32"):
        image_io.depth_to_uint8(np.zeros(3, np.int32))


def test_list_images(tmp_path):
    for name in ["b.PNG", "a.jpg", "sub/c.TIFF", ".hidden.jpg", "._a.jpg", ".cache/d.png",
                 "out/e.png", "notes.txt"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    found = image_io.list_images(tmp_path, exclude=(tmp_path / "out",))
    rel = [p.relative_to(tmp_path).as_posix() for p in found.images]
    assert rel == ["a.jpg", "b.PNG", "sub/c.TIFF"]
    assert [p.name for p in found.ignored] == ["notes.txt"]
    flat = image_io.list_images(tmp_path, recursive=False).images
    assert [p.name for p in flat] == ["a.jpg", "b.PNG"]
    assert image_io.list_images(tmp_path / "missing") == ([], [])


def test_write_image_round_trip_and_no_overwrite(tmp_path):
    rgb = RNG.integers(0, 256, (6, 9, 3), dtype=np.uint8)
    path = tmp_path / "new" / "ü.png"
    assert image_io.write_image(path, rgb)
    np.testing.assert_array_equal(image_io.read_rgb(path), rgb)
    assert not image_io.write_image(path, 255 - rgb)
    np.testing.assert_array_equal(image_io.read_rgb(path), rgb)
    assert image_io.write_image(path, 255 - rgb, overwrite=True)
    np.testing.assert_array_equal(image_io.read_rgb(path), 255 - rgb)
    assert sorted(p.name for p in path.parent.iterdir()) == ["ü.png"]  # no temp file left


def test_read_image_converts_depth_alpha_gray_and_exif(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    bgr = rgb[..., ::-1]
    cv2.imwrite(str(tmp_path / "c16.png"), bgr.astype(np.uint16) * 257)
    cv2.imwrite(str(tmp_path / "rgba.png"), np.dstack([bgr, np.full((20, 30), 9, np.uint8)]))
    cv2.imwrite(str(tmp_path / "g.png"), rgb[..., 0])
    loaded = image_io.read_image(tmp_path / "c16.png")
    assert loaded.rgb.dtype == np.uint8 and loaded.rgb.shape == (20, 30, 3)
    np.testing.assert_array_equal(loaded.rgb, rgb)
    assert loaded.notes
    # alpha 9/255: composited over white (the rule of faceres_tf.image_io)
    loaded = image_io.read_image(tmp_path / "rgba.png")
    a = 9 / 255
    np.testing.assert_array_equal(loaded.rgb, np.rint(rgb * a + 255 * (1 - a)).astype(np.uint8))
    assert "alpha composited over white" in loaded.notes
    g = image_io.read_image(tmp_path / "g.png")
    assert g.was_gray and g.rgb.shape == (20, 30, 3)
    # EXIF orientation 6 (rotate 90 clockwise to display), unicode file name
    path = tmp_path / "фото_é.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(rgb).save(path, exif=exif, quality=100)
    loaded = image_io.read_image(path)
    assert loaded.rgb.shape == (30, 20, 3)
    (tmp_path / "bad.jpg").write_text("not an image")
    with pytest.raises(image_io.ImageReadError, match="bad.jpg"):
        image_io.read_image(tmp_path / "bad.jpg")


def test_write_image_never_overwrites_by_default(tmp_path):
    p = tmp_path / "sub" / "ü.png"
    a = np.zeros((4, 4, 3), np.uint8)
    assert image_io.write_image(p, a)
    assert not image_io.write_image(p, a + 1)
    np.testing.assert_array_equal(image_io.read_image(p).rgb, a)
    assert image_io.write_image(p, a + 1, overwrite=True)
    np.testing.assert_array_equal(image_io.read_image(p).rgb, a + 1)


def test_read_rgb_conversions(tmp_path):
    # 16-bit grayscale PNG: 65535 -> 255, 257*k -> k.
    g16 = np.array([[0, 257 * 100], [65535, 257 * 7]], np.uint16)
    cv2.imwrite(str(tmp_path / "g16.png"), g16)
    out = image_io.read_rgb(tmp_path / "g16.png")
    assert out.dtype == np.uint8 and out.shape == (2, 2, 3)
    np.testing.assert_array_equal(out[..., 0], [[0, 100], [255, 7]])
    # 16-bit colour PNG (cv2 writes BGR).
    c16 = np.zeros((2, 2, 3), np.uint16)
    c16[..., 2] = 65535  # red
    cv2.imwrite(str(tmp_path / "c16.png"), c16)
    out = image_io.read_rgb(tmp_path / "c16.png")
    np.testing.assert_array_equal(out[0, 0], [255, 0, 0])
    # RGBA: transparent pixels composite over white.
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[0, 0] = [10, 20, 30, 255]
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    out = image_io.read_rgb(tmp_path / "rgba.png")
    np.testing.assert_array_equal(out[0, 0], [10, 20, 30])
    np.testing.assert_array_equal(out[1, 1], [255, 255, 255])
    # Grayscale JPEG -> 3 equal channels.
    Image.fromarray(np.full((8, 8), 90, np.uint8), "L").save(tmp_path / "g.jpg")
    out = image_io.read_rgb(tmp_path / "g.jpg")
    assert out.shape == (8, 8, 3) and (out[..., 0] == out[..., 2]).all()
