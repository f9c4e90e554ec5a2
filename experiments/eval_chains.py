"""Degradation chains of the evaluation sets, and an independent one [ours].

``chain="train"`` is the model's own training chain (faceres_tf.data,
TensorFlow): a model is scored on the pipeline it learned. ``chain="cv2"``
is written here independently, for evaluation only, in numpy + OpenCV + PIL
with no code shared with faceres_tf/data/degradations.py: the same GFPGAN
order and ranges (read from the model's DataConfig) but other kernels and
random choices, so a model that learned one implementation rather than
degradations scores worse on it (docs/method.md §7.1).

Per image, with a numpy Generator seeded by (CV2_SEED, d, image index):

1. blur, half isotropic ``cv2.GaussianBlur``, half ``cv2.filter2D`` with an
   anisotropic kernel built by cv2 (outer product of two
   ``cv2.getGaussianKernel``, rotated by ``cv2.warpAffine``, renormalised);
   sigma ~ U(blur_sigma), kernel side blur_kernel_size, reflected borders;
2. resize to R / r, r ~ U(downsample_range), by one of cv2 area / bilinear /
   bicubic / Lanczos-4 or PIL box / bilinear / bicubic / Lanczos (uniform);
3. noise, sigma ~ U(noise_range) on the 0-255 scale: Gaussian per channel
   (0.4), Gaussian grey (0.3) or Poisson (0.3, photon count scaled so that the
   std is sigma at mid-grey 128);
4. round to uint8, JPEG with quality ~ U{jpeg_range}, by cv2.imencode or PIL
   (half each);
5. resize back to R by a method drawn independently of step 2.

Colour jitter and grey conversion of the training chain are not reproduced
(both off in the bundled models). At an evaluation resolution other than
the model's, :func:`ranges_at` scales the pixel ranges the way the presets
scale GFPGAN's: blur sigma (upper end) and kernel radius by the size ratio,
the downsampling factor's upper end too, capped at GFPGAN's 8; noise and JPEG
are per pixel and unchanged.
"""

from __future__ import annotations

import dataclasses
import io
import math
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from experiments.evalset import EvalSet, build_eval_set, eval_faces
from faceres_tf.data.faces import load_face

CHAINS = ("train", "cv2")
CV2_SEED = 20261202  # base seed of the cv2 chain's evaluation draws [ours]
GFPGAN_MAX_DOWNSAMPLE = 8.0
RESIZERS = ("cv2_area", "cv2_linear", "cv2_cubic", "cv2_lanczos4",
            "pil_box", "pil_bilinear", "pil_bicubic", "pil_lanczos")
NOISE_KINDS = ("gauss_color", "gauss_gray", "poisson")
NOISE_PROBS = (0.4, 0.3, 0.3)


# ----------------------------------------------------------------------------- ranges
def ranges_at(data, model_resolution: int, resolution: int):
    """``data`` (a DataConfig) with its pixel ranges scaled from the model's
    resolution to ``resolution`` (unchanged when they are equal)."""
    s = resolution / model_resolution
    if s == 1:
        return data
    lo, hi = data.blur_sigma
    radius = max(1, int(round((data.blur_kernel_size // 2) * s)))
    d_lo, d_hi = data.downsample_range
    d_hi = max(d_lo, min(d_hi * s, max(GFPGAN_MAX_DOWNSAMPLE, d_hi)))
    return dataclasses.replace(data, blur_sigma=(lo, max(lo, hi * s)), blur_kernel_size=2 * radius + 1,
                               downsample_range=(d_lo, d_hi))


def config_at(cfg, resolution: int | None):
    """``cfg`` whose data is generated at ``resolution`` with scaled ranges."""
    r0 = int(cfg.model.resolution)
    if not resolution or resolution == r0:
        return cfg
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, resolution=int(resolution)),
                               data=ranges_at(cfg.data, r0, int(resolution)))


def describe_ranges(data) -> str:
    return (f"blur sigma {data.blur_sigma[0]:g}-{data.blur_sigma[1]:g} (kernel "
            f"{data.blur_kernel_size}), downsampling {data.downsample_range[0]:g}-"
            f"{data.downsample_range[1]:g}x, noise {data.noise_range[0]:g}-"
            f"{data.noise_range[1]:g}, JPEG {data.jpeg_range[0]:g}-{data.jpeg_range[1]:g}")


# ----------------------------------------------------------------------------- the cv2 chain
def rng_for(index: int, d: int = 0, seed: int = CV2_SEED) -> np.random.Generator:
    """The Generator of image ``index`` in degradation set ``d``."""
    return np.random.default_rng([int(seed), int(d), int(index)])


def sample_params(rng: np.random.Generator, data) -> dict:
    """One draw of the chain's random parameters from ``data``'s ranges."""
    lo, hi = (float(v) for v in data.blur_sigma)
    iso = bool(rng.random() < 0.5)
    sx = float(rng.uniform(lo, hi))
    sy = sx if iso else float(rng.uniform(lo, hi))
    return {
        "blur_iso": iso, "sigma_x": sx, "sigma_y": sy,
        "theta": 0.0 if iso else float(rng.uniform(0.0, math.pi)),
        "kernel": int(data.blur_kernel_size),
        "scale": float(rng.uniform(*data.downsample_range)),
        "down": RESIZERS[rng.integers(len(RESIZERS))],
        "noise": NOISE_KINDS[rng.choice(len(NOISE_KINDS), p=NOISE_PROBS)],
        "noise_sigma": float(rng.uniform(*data.noise_range)),
        "jpeg_quality": int(rng.integers(int(data.jpeg_range[0]), int(data.jpeg_range[1]) + 1)),
        "jpeg_by": "cv2" if rng.random() < 0.5 else "pil",
        "up": RESIZERS[rng.integers(len(RESIZERS))],
    }


def degrade(image: np.ndarray, rng: np.random.Generator, data) -> np.ndarray:
    """The cv2 chain on one uint8 RGB (R, R, 3) image -> uint8 (R, R, 3)."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected one uint8 RGB image (H, W, 3), got {image.dtype} {image.shape}")
    p = sample_params(rng, data)
    h, w = image.shape[:2]
    x = blur(image.astype(np.float32), p)
    x = resize(x, (max(1, round(w / p["scale"])), max(1, round(h / p["scale"]))), p["down"])
    x = add_noise(x, p["noise"], p["noise_sigma"], rng)
    x = jpeg(np.clip(np.rint(x), 0, 255).astype(np.uint8), p["jpeg_quality"], p["jpeg_by"])
    return np.clip(np.rint(resize(x.astype(np.float32), (w, h), p["up"])), 0, 255).astype(np.uint8)


def anisotropic_kernel(size: int, sigma_x: float, sigma_y: float, theta: float) -> np.ndarray:
    """A (size, size) float32 Gaussian kernel built by cv2, rotated by theta; sums to 1."""
    k = (cv2.getGaussianKernel(size, sigma_y) @ cv2.getGaussianKernel(size, sigma_x).T)
    c = (size - 1) / 2.0
    m = cv2.getRotationMatrix2D((c, c), math.degrees(theta), 1.0)
    k = cv2.warpAffine(k.astype(np.float32), m, (size, size), flags=cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    return k / k.sum()


def blur(x: np.ndarray, p: dict) -> np.ndarray:
    k, border = p["kernel"], cv2.BORDER_REFLECT_101
    if p["blur_iso"]:
        return cv2.GaussianBlur(x, (k, k), p["sigma_x"], sigmaY=p["sigma_x"], borderType=border)
    kernel = anisotropic_kernel(k, p["sigma_x"], p["sigma_y"], p["theta"])
    return cv2.filter2D(x, -1, kernel, borderType=border)


def resize(x: np.ndarray, size: tuple, method: str) -> np.ndarray:
    """float32 (H, W, 3) -> (size[1], size[0], 3) by ``method`` (one of RESIZERS)."""
    lib, name = method.split("_", 1)
    if lib == "cv2":
        flag = {"area": cv2.INTER_AREA, "linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC,
                "lanczos4": cv2.INTER_LANCZOS4}[name]
        return cv2.resize(x, size, interpolation=flag)
    flag = {"box": Image.Resampling.BOX, "bilinear": Image.Resampling.BILINEAR,
            "bicubic": Image.Resampling.BICUBIC, "lanczos": Image.Resampling.LANCZOS}[name]
    channels = [np.asarray(Image.fromarray(np.ascontiguousarray(x[..., c], dtype=np.float32))
                           .resize(size, resample=flag)) for c in range(x.shape[-1])]
    return np.stack(channels, axis=-1).astype(np.float32)


def add_noise(x: np.ndarray, kind: str, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian (per channel or grey) or Poisson noise of std ``sigma`` (0-255 scale)."""
    if sigma <= 1e-6:
        return x
    if kind == "gauss_color":
        return x + rng.normal(0.0, sigma, x.shape).astype(np.float32)
    if kind == "gauss_gray":
        return x + rng.normal(0.0, sigma, x.shape[:2] + (1,)).astype(np.float32)
    gain = sigma * sigma / 128.0  # grey levels per photon: std sqrt(128 * gain) = sigma at 128
    return (rng.poisson(np.clip(x, 0, 255) / gain) * gain).astype(np.float32)


def jpeg(x: np.ndarray, quality: int, by: str) -> np.ndarray:
    """JPEG round trip of uint8 RGB ``x`` at ``quality`` by cv2 or PIL."""
    if by == "cv2":
        ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(x[..., ::-1]),
                               [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
        if not ok:
            raise RuntimeError("cv2.imencode failed")
        return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].copy()
    out = io.BytesIO()
    Image.fromarray(x).save(out, format="JPEG", quality=int(quality))
    return np.asarray(Image.open(io.BytesIO(out.getvalue())).convert("RGB"))


# ----------------------------------------------------------------------------- evaluation sets
def build_cv2_eval_set(cfg, eval_dir, num_degradations: int = 3, num_faces: int | None = None):
    """:class:`~experiments.evalset.EvalSet` of the cv2 chain at ``cfg.model.resolution``
    with ``cfg.data``'s ranges (use :func:`config_at` for another resolution)."""
    r = int(cfg.model.resolution)
    paths = eval_faces(eval_dir, num_faces)
    target = np.stack([load_face(p, r) for p in paths])
    degraded = np.stack([[degrade(t, rng_for(i, d), cfg.data) for i, t in enumerate(target)]
                         for d in range(int(num_degradations))])
    desc = (f"{len(paths)} faces of {eval_dir} x {num_degradations} fixed degradations (cv2 chain, "
            f"seeds ({CV2_SEED}, d, i)) at {r} px")
    return EvalSet([Path(p).stem for p in paths], _to_float(degraded), _to_float(target), desc)


def build_chain_eval_set(chain: str, cfg, eval_dir, num_degradations: int = 3,
                         num_faces: int | None = None):
    """The evaluation set of ``chain`` ("train" or "cv2") for ``cfg``."""
    if chain == "train":
        return build_eval_set(cfg, eval_dir, num_degradations, num_faces)
    if chain == "cv2":
        return build_cv2_eval_set(cfg, eval_dir, num_degradations, num_faces)
    raise ValueError(f"unknown chain {chain!r}; choose from {', '.join(CHAINS)}")


def _to_float(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float32) / 127.5 - 1.0
