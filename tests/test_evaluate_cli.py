"""The evaluate CLI on tiny folder pairs: outputs, unmatched / unreadable / resized files."""

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from faceres_tf import evaluate
from faceres_tf.metrics.identity import IdentityEmbedder
from faceres_tf.metrics.psnr_ssim import PSNR_MAX_DB, psnr

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


class MeanColourEmbedder(IdentityEmbedder):
    """Fake identity network: mean RGB of a downscaled image (fast, deterministic)."""

    name, dim = "mean_colour", 12

    def embed(self, images, progress=False):
        return np.stack([np.asarray(Image.fromarray(im).resize((2, 2)), np.float64).ravel()
                         for im in images])


def _write(folder, name, arr):
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(folder / name)


@pytest.fixture
def folders(tmp_path):
    rng = np.random.default_rng(0)
    gt, rest = tmp_path / "gt", tmp_path / "restored"
    for i in range(6):
        img = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
        noisy = np.clip(img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8)
        _write(gt, f"{i:04d}.png", img)
        _write(rest, f"{i:04d}.png", noisy)
    # restored at another size -> resized with a warning
    _write(gt, "0006.png", rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    _write(rest, "0006.png", rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
    (rest / "0007.png").write_bytes(b"this is not a png")  # unreadable
    _write(gt, "0007.png", rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    _write(gt, "only_gt.png", rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    _write(rest, "only_restored.jpg", rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    return rest, gt


def test_report_and_outputs(folders, tmp_path):
    rest, gt = folders
    report = evaluate.evaluate_folders(rest, gt, metrics=["auto"], k=2,
                                       embedder=MeanColourEmbedder(),
                                       lpips_weights=tmp_path / "missing.npz", progress=False)
    assert report["n_pairs"] == 7
    assert report["unmatched_gt"] == ["only_gt"]
    assert report["unmatched_restored"] == ["only_restored"]
    assert [s["name"] for s in report["skipped"]] == ["0007"]
    assert "0007.png" in report["skipped"][0]["reason"]
    assert [r["name"] for r in report["resized"]] == ["0006"]
    m = report["metrics"]
    a = np.asarray(Image.open(gt / "0000.png"))
    b = np.asarray(Image.open(rest / "0000.png"))
    assert report["per_image"][0]["psnr"] == pytest.approx(psnr(a, b))
    assert 25 < m["psnr"] < 40 and 0 < m["ssim"] <= 1
    for key in ("precision", "recall", "iprecision", "irecall"):
        assert 0 <= m[key] <= 1
    assert m["iprecision"] <= m["precision"]
    # auto: LPIPS has no weights, so it is skipped with the reason; the rest is kept
    assert "lpips" not in m and "convert_lpips_weights" in report["skipped_metrics"]["lpips"]
    assert report["errors"] == {}

    files = evaluate.write_outputs(report, tmp_path / "out" / "results.json")
    loaded = json.loads(files[0].read_text())
    assert loaded["metrics"]["psnr"] == pytest.approx(m["psnr"])
    rows = list(csv.reader(open(files[1])))
    assert rows[0][:3] == ["n_pairs", "psnr", "ssim"] and rows[1][0] == "7"
    assert len(list(csv.DictReader(open(files[2])))) == 7
    assert "PSNR↑" in evaluate.format_table(report)


def test_cli_main_with_dlib_on_real_faces(tmp_path):
    folder = DATA / "gpen_ffhq10"
    if not folder.is_dir():
        pytest.skip(f"shared test data not found at {folder}")
    import cv2

    gt, rest = tmp_path / "gt", tmp_path / "restored"
    for i in range(4):
        face = np.asarray(Image.open(folder / f"0000{i}.png").convert("RGB").resize((128, 128)))
        _write(gt, f"{i}.png", face)
        _write(rest, f"{i}.png", cv2.GaussianBlur(face, (0, 0), 1.0))
    out = tmp_path / "res.json"
    code = evaluate.main(["--restored", str(rest), "--gt", str(gt), "--metrics=psnr,ssim,ipr",
                          "--k=1", "--output", str(out), "--quiet"])
    assert code == 0
    report = json.loads(out.read_text())
    assert report["id_net"] == "dlib" and report["n_pairs"] == 4
    assert report["metrics"]["iprecision"] == 1.0  # mild blur keeps every identity
    assert out.with_suffix(".csv").is_file() and (tmp_path / "res_per_image.csv").is_file()
    # Existing results are kept unless --overwrite.
    before = out.read_text()
    args = ["--restored", str(rest), "--gt", str(gt), "--metrics=psnr", "--output", str(out),
            "--quiet"]
    assert evaluate.main(args) == 2
    assert out.read_text() == before
    assert evaluate.main(args + ["--overwrite"]) == 0
    assert json.loads(out.read_text())["metrics"].keys() == {"psnr"}


def test_cli_empty_and_missing_folders(tmp_path, capsys):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    out = tmp_path / "r.json"
    assert evaluate.main(["--restored", str(tmp_path / "a"), "--gt", str(tmp_path / "b"),
                          "--metrics=psnr", "--output", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: no image pairs to score"), err
    assert list(tmp_path.glob("r*")) == []  # no empty result files
    assert evaluate.main(["--restored", str(tmp_path / "nope"), "--gt", str(tmp_path / "b")]) == 2
    assert "not a folder" in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown metric"):
        evaluate.evaluate_folders(tmp_path / "a", tmp_path / "b", metrics=["psnr", "niqe"])


def test_ids_csv(folders, tmp_path):
    rest, gt = folders
    ids = tmp_path / "ids.csv"
    ids.write_text("name,id\n" + "".join(f"{i:04d},person{i % 2}\n" for i in range(7)))
    report = evaluate.evaluate_folders(rest, gt, metrics=["ipr"], k=2, ids_csv=ids,
                                       embedder=MeanColourEmbedder(), progress=False)
    assert report["errors"] == {}
    assert 0 <= report["metrics"]["irecall"] <= report["metrics"]["recall"]


def _strict_json(text):
    def refuse(constant):
        raise ValueError(f"{constant} is not valid JSON")

    return json.loads(text, parse_constant=refuse)


def test_identical_images_score_the_psnr_cap(tmp_path, capsys):
    """The scorer's rule: an identical pair has PSNR 100 dB (PSNR_MAX_DB), not
    inf, and counts in the mean like any pair; the JSON stays strict."""
    img = np.random.default_rng(3).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    other = np.clip(img.astype(int) + 9, 0, 255).astype(np.uint8)
    for name, rest in (("same1", img), ("same2", img), ("diff", other)):
        _write(tmp_path / "gt", f"{name}.png", img)
        _write(tmp_path / "restored", f"{name}.png", rest)
    out = tmp_path / "res.json"
    args = ["--restored", str(tmp_path / "restored"), "--gt", str(tmp_path / "gt"),
            "--metrics=psnr,ssim", "--quiet", "--output", str(out)]
    assert evaluate.main(args) == 0
    report = _strict_json(out.read_text())
    diff_db = 10 * np.log10(255.0 ** 2 / np.mean((img.astype(float) - other) ** 2))
    assert report["metrics"]["psnr"] == pytest.approx((2 * PSNR_MAX_DB + diff_db) / 3)
    per = {r["name"]: r for r in report["per_image"]}
    assert per["same1"]["psnr"] == per["same2"]["psnr"] == 100.0
    assert per["diff"]["psnr"] == pytest.approx(diff_db)
    assert "non_finite" not in report and not report.get("notes")
    # every pair identical: the mean is the cap
    (tmp_path / "restored" / "diff.png").unlink()
    (tmp_path / "gt" / "diff.png").unlink()
    assert evaluate.main(args + ["--overwrite"]) == 0
    assert "not finite" not in capsys.readouterr().out
    report = _strict_json(out.read_text())
    assert report["metrics"]["psnr"] == 100.0 and report["metrics"]["ssim"] == 1.0


def test_non_finite_values_are_null_in_strict_json(tmp_path):
    """Should a value not be finite (none of the metrics gives one today), the
    JSON file stays strict: null, listed under non_finite."""
    report = {"n_pairs": 1, "metrics": {"psnr": float("nan")}, "errors": {},
              "per_image": [{"name": "a", "psnr": float("inf")}]}
    files = evaluate.write_outputs(report, tmp_path / "r.json")
    loaded = _strict_json(files[0].read_text())
    assert loaded["metrics"]["psnr"] is None and loaded["per_image"][0]["psnr"] is None
    assert loaded["non_finite"] == {"metrics.psnr": "nan", "per_image[0].psnr": "inf"}
    assert "not finite; written as null" in evaluate.format_table(report)


def test_out_that_is_an_input_is_refused(folders, tmp_path, capsys):
    rest, gt = folders
    target = gt / "0000.png"
    before = target.read_bytes()
    assert evaluate.main(["--restored", str(rest), "--gt", str(gt), "--metrics=psnr",
                          "--output", str(target), "--overwrite", "--quiet"]) == 2
    assert "is one of the inputs" in capsys.readouterr().err
    assert target.read_bytes() == before
