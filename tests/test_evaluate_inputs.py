"""faceres-evaluate on hostile inputs:
every input checked before any scoring, streaming, atomic outputs."""

import errno
import json
import os
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceres_tf import evaluate, evaluate_report
from faceres_tf.metrics.identity import IdentityEmbedder


class RecordingEmbedder(IdentityEmbedder):
    """Mean colour of a 2x2 downscale; records the size of every call."""

    name, dim = "recording", 12

    def __init__(self):
        self.calls = []

    def embed(self, images, progress=False):
        self.calls.append(len(images))
        return np.stack([np.asarray(Image.fromarray(im).resize((2, 2)), np.float64).ravel()
                         for im in images])


def _write(folder: Path, name: str, arr) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(folder / name)
    return folder / name


@pytest.fixture
def pairs(tmp_path):
    rng = np.random.default_rng(1)
    gt, rest = tmp_path / "gt", tmp_path / "restored"
    for i in range(8):
        img = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
        _write(gt, f"{i:02d}.png", img)
        _write(rest, f"{i:02d}.png", np.clip(img.astype(int) + 5, 0, 255).astype(np.uint8))
    return rest, gt


def _main(capsys, rest, gt, *extra, embedder=None, monkeypatch=None):
    """Runs the command (with a fake identity net when given); returns (rc, out, err lines)."""
    if embedder is not None:
        monkeypatch.setattr("faceres_tf.evaluate_metrics._build",
                            _fake_build(embedder))
    rc = evaluate.main(["--restored", str(rest), "--gt", str(gt), "--quiet", *map(str, extra)])
    cap = capsys.readouterr()
    return rc, cap.out, [line for line in cap.err.splitlines() if line.strip()]


def _fake_build(embedder):
    from faceres_tf import evaluate_metrics

    real = evaluate_metrics._build

    def build(name, settings):
        return embedder if name == "ipr" else real(name, settings)
    return build


# ----------------------------------------------------------------------------- (a) --ids
@pytest.mark.parametrize("content,message", [
    (None, "no such file"),
    ("name,id\n00,a\n01\n", ":3: expected 'name,id'"),
    ("00,a\n01,b\n00,c\n", ":3: '00' has id 'c' here and 'a' on line 1"),
    ("\n# only a comment\n", "no 'name,id' rows"),
])
def test_bad_ids_csv_is_a_usage_error_before_any_embedding(pairs, tmp_path, capsys, monkeypatch,
                                                           content, message):
    rest, gt = pairs
    ids = tmp_path / "ids.csv"
    if content is not None:
        ids.write_text(content, encoding="utf-8")
    emb = RecordingEmbedder()
    rc, _, err = _main(capsys, rest, gt, "--metrics=psnr,ipr", "--ids", ids, "--output",
                       tmp_path / "r.json", embedder=emb, monkeypatch=monkeypatch)
    assert rc == 2 and len(err) == 1 and err[0].startswith("error: --ids") and message in err[0], err
    assert emb.calls == [] and not (tmp_path / "r.json").exists()


def test_ids_csv_with_bom_and_repeated_identical_rows(pairs, tmp_path):
    ids = tmp_path / "ids.csv"
    rows = "name,id\n" + "".join(f"{i:02d},p{i % 2}\n" for i in range(8)) + "00,p0\n"
    ids.write_bytes(b"\xef\xbb\xbf" + rows.encode())  # Excel's UTF-8 with BOM
    assert evaluate.read_ids_csv(ids) == {f"{i:02d}": f"p{i % 2}" for i in range(8)}


# ----------------------------------------------------------------------------- (b) streaming, weights at start
def test_pairs_stream_in_batches_with_progress(pairs, tmp_path, capsys, monkeypatch):
    rest, gt = pairs
    monkeypatch.setattr(evaluate, "BATCH_PAIRS", 3)
    emb = RecordingEmbedder()
    monkeypatch.setattr("faceres_tf.evaluate_metrics._build", _fake_build(emb))
    rc = evaluate.main(["--restored", str(rest), "--gt", str(gt), "--metrics=psnr,ssim,ipr",
                        "--k=1", "--output", str(tmp_path / "r.json")])
    err = capsys.readouterr().err
    assert rc == 0
    assert emb.calls == [3, 3, 3, 3, 2, 2]  # restored + truth of batches 3, 3, 2: never all at once
    assert "scoring" in err and "8/8" in err  # the progress bar on stderr


def test_explicit_metric_without_weights_fails_before_scoring(pairs, tmp_path, capsys, monkeypatch):
    rest, gt = pairs
    emb = RecordingEmbedder()
    rc, _, err = _main(capsys, rest, gt, "--metrics=psnr,ipr,lpips", "--output", tmp_path / "r.json",
                       embedder=emb, monkeypatch=monkeypatch)
    assert rc == 2 and len(err) == 1, err
    assert err[0].startswith("error: --metrics lpips: no LPIPS weights") and "convert_lpips_weights" in err[0]
    assert emb.calls == [] and not (tmp_path / "r.json").exists()


def test_auto_skips_metrics_without_weights_with_one_line_each(pairs, tmp_path, capsys, monkeypatch):
    """The default metrics run offline; absent weights are not a failure."""
    rest, gt = pairs
    keras_home = tmp_path / "keras_home"  # no Inception V3 weights in this cache
    monkeypatch.setenv("KERAS_HOME", str(keras_home))
    rc, out, err = _main(capsys, rest, gt, "--k=1", "--output", tmp_path / "r.json",
                         embedder=RecordingEmbedder(), monkeypatch=monkeypatch)
    assert rc == 0, err
    skipped = [line for line in err if "skipped" in line]
    assert len(skipped) == 2, err  # one line each
    assert skipped[0].startswith("warning: lpips skipped: no LPIPS weights")
    assert skipped[1].startswith("warning: fid skipped: no Inception V3 weights")
    report = json.loads((tmp_path / "r.json").read_text())
    assert set(report["metrics"]) == {"psnr", "ssim", "precision", "recall", "iprecision", "irecall"}
    assert set(report["skipped_metrics"]) == {"lpips", "fid"} and report["errors"] == {}
    assert "PSNR↑" in out


def test_small_sets_warn_that_ipr_saturates_and_k_too_large_is_refused(pairs, tmp_path, capsys,
                                                                        monkeypatch):
    rest, gt = pairs
    rc, _, err = _main(capsys, rest, gt, "--metrics=ipr", "--k=3", "--output", tmp_path / "a.json",
                       embedder=RecordingEmbedder(), monkeypatch=monkeypatch)
    assert rc == 0
    saturate = [line for line in err if "holds k=3 of the other 7 faces (43%)" in line]
    assert len(saturate) == 1 and "saturate near 1" in saturate[0], err
    rc, _, err = _main(capsys, rest, gt, "--metrics=psnr,ipr", "--k=8", "--output", tmp_path / "b.json",
                       embedder=RecordingEmbedder(), monkeypatch=monkeypatch)
    assert rc == 2 and "k=8 needs more than k pairs; there are 8" in err[0]


# ----------------------------------------------------------------------------- (c) tiny pair
def test_pair_too_small_for_ssim_is_left_out_of_ssim_only_and_named(pairs, tmp_path):
    rest, gt = pairs
    tiny = np.full((8, 8, 3), 100, np.uint8)
    _write(gt, "tiny.png", tiny)
    _write(rest, "tiny.png", tiny + 3)
    report = evaluate.evaluate_folders(rest, gt, metrics=["psnr", "ssim"], progress=False)
    assert report["n_pairs"] == 9
    assert [(r["metric"], r["name"]) for r in report["pairs_left_out"]] == [("ssim", "tiny")]
    per = {r["name"]: r for r in report["per_image"]}
    assert per["tiny"]["ssim"] is None and per["tiny"]["psnr"] > 0
    assert report["metrics"]["ssim"] > 0 and "ssim" not in report["errors"]
    assert any("ssim: 1 pair(s) left out of the mean: tiny" in n for n in report["notes"])


# ----------------------------------------------------------------------------- (d) outputs
def test_full_disk_leaves_no_partial_results_and_keeps_old_ones(pairs, tmp_path, capsys, monkeypatch):
    rest, gt = pairs
    out = tmp_path / "res" / "results.json"
    args = ["--metrics=psnr", "--output", out]
    assert _main(capsys, rest, gt, *args)[0] == 0
    before = out.read_text()

    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(evaluate_report.os, "fsync", no_space)
    rc, stdout, err = _main(capsys, rest, gt, *args, "--overwrite")
    assert rc == 2 and len(err) == 1 and "No space left on device" in err[0], err
    assert "PSNR↑" in stdout  # the table was printed before writing
    assert out.read_text() == before  # the old results are intact
    assert sorted(p.name for p in out.parent.iterdir()) == ["results.csv", "results.json",
                                                           "results_per_image.csv"]  # no .tmp left


def test_empty_leftover_result_does_not_block_a_rerun(pairs, tmp_path, capsys):
    rest, gt = pairs
    out = tmp_path / "results.json"
    out.write_bytes(b"")  # what a crash of the old code left behind
    assert _main(capsys, rest, gt, "--metrics=psnr", "--output", out)[0] == 0
    assert json.loads(out.read_text())["n_pairs"] == 8


@pytest.mark.parametrize("target", ["folder", "device"])
def test_output_that_is_not_a_file_is_refused_before_scoring(pairs, tmp_path, capsys, monkeypatch,
                                                             target):
    rest, gt = pairs
    out = tmp_path / "a_folder" if target == "folder" else Path(os.devnull)
    out.mkdir(exist_ok=True) if target == "folder" else None
    sibling = Path(str(out) + ".csv")
    existed = sibling.exists()
    emb = RecordingEmbedder()
    rc, _, err = _main(capsys, rest, gt, "--metrics=psnr,ipr", "--output", out, "--overwrite",
                       embedder=emb, monkeypatch=monkeypatch)
    assert rc == 2 and len(err) == 1, err
    assert ("is a folder" if target == "folder" else "not a regular file") in err[0]
    assert emb.calls == [] and sibling.exists() == existed  # no /dev/null.csv


def test_unwritable_output_folder_is_refused_before_scoring(pairs, tmp_path, capsys, monkeypatch):
    rest, gt = pairs
    locked = tmp_path / "locked"
    locked.mkdir()
    monkeypatch.setattr(evaluate_report.os, "access", lambda path, mode: Path(path) != locked)
    emb = RecordingEmbedder()
    rc, _, err = _main(capsys, rest, gt, "--metrics=ipr", "--output", locked / "r.json",
                       embedder=emb, monkeypatch=monkeypatch)
    assert rc == 2 and "permission denied" in err[0] and emb.calls == []


# ----------------------------------------------------------------------------- (e) names
def test_ambiguous_stems_are_listed_and_unicode_forms_match(pairs, tmp_path):
    rest, gt = pairs
    img = np.random.default_rng(2).integers(0, 256, (24, 24, 3), dtype=np.uint8)
    _write(rest, "00.jpg", img)  # 00.png and 00.jpg: which is the restoration?
    nfc, nfd = (unicodedata.normalize(f, "Zoë") for f in ("NFC", "NFD"))
    assert nfc != nfd
    _write(gt, f"{nfc}.png", img)
    _write(rest, f"{nfd}.png", img)
    report = evaluate.evaluate_folders(rest, gt, metrics=["psnr"], progress=False)
    assert report["ambiguous"] == [{"side": "restored", "name": "00", "files": ["00.jpg", "00.png"]}]
    names = [r["name"] for r in report["per_image"]]
    assert "00" not in names and nfc in names and report["n_pairs"] == 8
    assert report["unmatched_restored"] == [] and report["unmatched_gt"] == []
