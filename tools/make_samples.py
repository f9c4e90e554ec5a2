"""Regenerates the bundled sample faces in ``data/`` from ``../shared/data``.

    python -m tools.make_samples [--input ../shared/data] [--output data]

* ``data/train`` (49) and ``data/val`` (9): high-quality aligned faces
  (CelebA-HQ from clovaai/stargan-v2, FFHQ from yangxy/GPEN and
  DPS2022/diffusion-posterior-sampling), area-resized to 256 x 256, JPEG q=95
  with 4:4:4 chroma (keeps the repository small; the JPEG error is far below
  the training degradations).
* ``data/real_lq`` (6): real low-quality aligned faces from sczhou/CodeFormer,
  area-resized to 256 x 256, PNG, for the restoration demo.
* ``data/README.md``: per-image source, licence notes and the split.

The split is fixed in ``VAL`` below. It keeps apart faces that dlib's 128-d
face descriptor judges to be the same person (distance < 0.45): CelebA-HQ
ref_female_063109 / 113393 (0.30) and ref_male_020167 / 060259 (0.38) are
both in train. ``dps_ffhq256_samples/00003.png`` is FFHQ 00003, already in the
set as ``gpen_ffhq10/00003.png``: it is dropped.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image

from faceres_tf import cli
from faceres_tf.errors import UserError

SIZE = 256

# (set folder, source repo, path in repo, commit, licence note)
SOURCES = {
    "stargan_v2_celeba_hq": (
        "clovaai/stargan-v2",
        "assets/representative/celeba_hq/ref/{female,male}",
        "875b70a150609e8a678ed8482562e7074cdce7e5",
        "CelebA-HQ; repo CC BY-NC 4.0 (NAVER); CelebA terms: non-commercial research only",
    ),
    "gpen_ffhq10": (
        "yangxy/GPEN",
        "examples/ffhq-10",
        "2c736702983368847fb544d234a22ac7cff25802",
        "FFHQ; per-image Flickr licence, dataset CC BY-NC-SA 4.0 (NVIDIA); repo has no LICENSE",
    ),
    "dps_ffhq256_samples": (
        "DPS2022/diffusion-posterior-sampling",
        "data/samples",
        "effbde7325b22ce8dc3e2c06c160c021e743a12d",
        "FFHQ validation; FFHQ terms; repo has no LICENSE",
    ),
    "codeformer_cropped_faces": (
        "sczhou/CodeFormer",
        "inputs/cropped_faces",
        "b33cc7d639d6545bfcccc7e0bc6ae51f24e79c2b",
        "NTU S-Lab License 1.0, non-commercial",
    ),
}

HQ_SETS = ("stargan_v2_celeba_hq", "gpen_ffhq10", "dps_ffhq256_samples")
DROP = {("dps_ffhq256_samples", "00003.png")}  # = gpen_ffhq10/00003.png
VAL = {
    ("gpen_ffhq10", "00005.png"),
    ("gpen_ffhq10", "00006.png"),
    ("gpen_ffhq10", "00008.png"),
    ("dps_ffhq256_samples", "00015.png"),
    ("stargan_v2_celeba_hq", "ref_female_015248.jpg"),
    ("stargan_v2_celeba_hq", "ref_female_036619.jpg"),
    ("stargan_v2_celeba_hq", "ref_female_074075.jpg"),
    ("stargan_v2_celeba_hq", "ref_male_012712.jpg"),
    ("stargan_v2_celeba_hq", "ref_male_037023.jpg"),
}
REAL_LQ = ("0143.png", "0240.png", "0342.png", "0412.png", "0599.png", "0934.png")

_PREFIX = {
    "stargan_v2_celeba_hq": "celebahq",
    "gpen_ffhq10": "ffhq",
    "dps_ffhq256_samples": "ffhq",
    "codeformer_cropped_faces": "codeformer",
}


def _source_path(set_name: str, file_name: str) -> str:
    repo_path = SOURCES[set_name][1]
    if set_name == "stargan_v2_celeba_hq":  # ref_female_015248.jpg -> ref/female/015248.jpg
        _, gender, rest = file_name.split("_", 2)
        return f"assets/representative/celeba_hq/ref/{gender}/{rest}"
    return f"{repo_path}/{file_name}"


def _resized(path: Path) -> Image.Image:
    with Image.open(path) as im:
        im = im.convert("RGB")  # dps samples are RGBA with opaque alpha
        if im.size != (SIZE, SIZE):
            im = im.resize((SIZE, SIZE), Image.Resampling.BOX)  # area interpolation
        return im.copy()


def make_samples(src, dst) -> dict:
    """Writes ``dst/{train,val,real_lq}`` and ``dst/README.md``; returns counts."""
    src, dst = Path(src), Path(dst)
    if not src.is_dir():
        raise FileNotFoundError(f"source folder {str(src)!r} not found (expected ../shared/data)")
    rows = []
    for sub in ("train", "val", "real_lq"):
        d = dst / sub
        d.mkdir(parents=True, exist_ok=True)
        for old in d.iterdir():
            if old.is_file():
                old.unlink()
    for set_name in HQ_SETS:
        for f in sorted((src / set_name).iterdir()):
            if (set_name, f.name) in DROP or f.suffix.lower() not in (".png", ".jpg"):
                continue
            split = "val" if (set_name, f.name) in VAL else "train"
            out_name = f"{_PREFIX[set_name]}_{f.stem}.jpg"
            _resized(f).save(dst / split / out_name, quality=95, subsampling=0)
            rows.append((split, out_name, set_name, f.name))
    for name in REAL_LQ:
        f = src / "codeformer_cropped_faces" / name
        out_name = f"{_PREFIX['codeformer_cropped_faces']}_{f.stem}.png"
        _resized(f).save(dst / "real_lq" / out_name, optimize=True)
        rows.append(("real_lq", out_name, "codeformer_cropped_faces", name))
    (dst / "README.md").write_text(_readme(rows))
    counts = {s: sum(1 for r in rows if r[0] == s) for s in ("train", "val", "real_lq")}
    return counts


_README_HEAD = """\
# Bundled sample faces

Small, offline data so that `make train` (the `tiny` preset), the tests and the
restoration demo run on a fresh machine. Regenerate with
`python -m tools.make_samples --input ../shared/data --output data`.

**Licence: non-commercial research use only.** These are photos of real people
from research datasets. CelebA / CelebA-HQ allow non-commercial research use only
and forbid further distribution; FFHQ images carry their own Flickr licences
(CC BY 2.0, CC BY-NC 2.0, Public Domain Mark, CC0) and the dataset is CC BY-NC-SA
4.0 (NVIDIA); the CodeFormer images are under the NTU S-Lab License 1.0
(non-commercial). Do not use them commercially and do not put them in releases.

| folder | n | content |
|---|---|---|
| `train/` | {train} | high-quality aligned faces (CelebA-HQ, FFHQ), 256x256 JPEG q=95 (4:4:4) |
| `val/` | {val} | the same kind, held out for validation |
| `real_lq/` | {lq} | real low-quality aligned faces (CodeFormer test inputs), 256x256 PNG, for the restoration demo |
| `photos/` | 3 | whole photos, 7 faces (GFPGAN inputs), 640 px JPEG, for `make restore`: `photos/README.md` |

## How the set was made

* Sources: `stargan_v2_celeba_hq` (46 CelebA-HQ faces, 1024 px), `gpen_ffhq10`
  (FFHQ 00000-00009, 1024 px) and `dps_ffhq256_samples` (FFHQ 00003, 00014, 00015,
  256 px RGBA with opaque alpha) of the project's shared test data. Each image was
  converted to RGB and resized to 256x256 with area (box) interpolation.
* `dps_ffhq256_samples/00003.png` is the same FFHQ image as `gpen_ffhq10/00003.png`
  and was dropped.
* Split: 9 faces for validation (4 FFHQ, 5 CelebA-HQ), 49 for training. Pairs that
  dlib's 128-d face descriptor judges to be the same person (CelebA-HQ 063109 /
  113393, distance 0.30; 020167 / 060259, 0.38) are both in `train/`; no validation
  face is closer than 0.55 to any training face.
* File names: `celebahq_<ref_gender_id>.jpg`, `ffhq_<id>.jpg`, `codeformer_<id>.png`.

## Using your own faces

Point `data.train_dir` / `data.val_dir` at folders of **aligned, square face crops**
(FFHQ-style alignment; see `faceres_tf.face` for aligning raw photos). Subfolders are
searched; png, jpg, jpeg, webp and bmp are read (any case). Images are centre-cropped
to a square and resized to the model resolution; smaller ones are upscaled with a
warning; unreadable files are skipped with a warning. For large sets, convert once to
TFRecord shards with `python -m faceres_tf.data.prepare --input DIR --output DIR
--resolution 512` and point `data.train_dir` at the output folder.

## Per-image sources

| split | file | source repo | path in repo | commit | licence |
|---|---|---|---|---|---|
"""


def _readme(rows) -> str:
    """``data/README.md``: :data:`_README_HEAD` with the counts, then one row per image."""
    n = {split: sum(r[0] == split for r in rows) for split in ("train", "val", "real_lq")}
    lines = [_README_HEAD.format(train=n["train"], val=n["val"], lq=n["real_lq"]).rstrip("\n")]
    for split, out_name, set_name, name in rows:
        repo, _, commit, lic = SOURCES[set_name]
        lines.append(
            f"| {split} | `{out_name}` | {repo} | `{_source_path(set_name, name)}` | "
            f"`{commit[:12]}` | {lic} |"
        )
    lines += [
        "",
        "Full commits: " + "; ".join(f"{v[0]} `{v[2]}`" for v in SOURCES.values()) + ".",
        "",
    ]
    return "\n".join(lines)


def build_parser():
    here = Path(__file__).resolve().parents[2]
    return cli.make_parser(
        "python -m tools.make_samples", __doc__.split("\n\n")[0],
        input=dict(default=str(here.parent / "shared" / "data"), help="the shared data folder (sources)"),
        output=dict(default=str(here / "data"), help="the repository's data/ folder"))


def _command(args) -> int:
    if not Path(args.input).is_dir():
        raise UserError(f"--input {args.input}: no such folder (the shared data folder, e.g. ../shared/data)")
    counts = make_samples(args.input, args.output)
    print(f"wrote {counts} to {args.output}")
    return 0


def main(argv=None) -> int:
    """``python -m tools.make_samples``; returns the exit status."""
    return cli.run(_command, build_parser(), argv, tensorflow=False)


if __name__ == "__main__":
    sys.exit(main())
