"""Converts the official PyTorch LPIPS-VGG weights into the one ``.npz`` file LPIPS uses.

Inputs (PyTorch state dicts the user already has; nothing is downloaded):

* ``--lin``: LPIPS v0.1 linear layers, ``lpips/weights/v0.1/vgg.pth`` in the
  ``lpips`` package; keys ``lin{l}.model.1.weight``, shape ``(1, C, 1, 1)``.
* ``--vgg``: torchvision's ImageNet VGG16 (``vgg16-397923af.pth``); keys
  ``features.{i}.weight`` ``(out, in, 3, 3)`` and ``features.{i}.bias`` for the
  13 convolutions (i = 0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28). The
  classifier keys are ignored.

Usage::

    faceres-convert-lpips --lin vgg.pth --vgg vgg16-397923af.pth --output lpips_vgg.npz

(``python -m faceres_tf.metrics.convert_lpips_weights`` is the same command.)

torch is imported only by :func:`load_torch_state_dict` (it is not a
dependency of this package); the conversion itself works on numpy arrays.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Mapping

import numpy as np

from faceres_tf import cli
from faceres_tf.errors import UserError
from faceres_tf.metrics.lpips import LPIPS_CHANNELS, conv_names

TORCHVISION_VGG16_CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)


def convert_state_dicts(lin_sd: Mapping[str, np.ndarray],
                        vgg_sd: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """numpy state dicts -> the arrays of the LPIPS ``.npz`` file (see module docstring)."""
    out: dict[str, np.ndarray] = {}
    for name, idx in zip(conv_names(), TORCHVISION_VGG16_CONV_INDICES):
        wkey, bkey = f"features.{idx}.weight", f"features.{idx}.bias"
        if wkey not in vgg_sd or bkey not in vgg_sd:
            raise KeyError(f"VGG16 state dict lacks {wkey!r}/{bkey!r}: is it torchvision's vgg16?")
        w = np.asarray(vgg_sd[wkey], np.float32)
        if w.ndim != 4 or w.shape[2:] != (3, 3):
            raise ValueError(f"{wkey}: expected (out, in, 3, 3), got {w.shape}.")
        out[f"{name}/kernel"] = np.transpose(w, (2, 3, 1, 0))  # OIHW -> HWIO
        out[f"{name}/bias"] = np.asarray(vgg_sd[bkey], np.float32)
    for i, c in enumerate(LPIPS_CHANNELS):
        key = f"lin{i}.model.1.weight"
        if key not in lin_sd:
            raise KeyError(f"LPIPS state dict lacks {key!r}: is it lpips/weights/v0.1/vgg.pth?")
        w = np.asarray(lin_sd[key], np.float32).reshape(-1)
        if w.shape != (c,):
            raise ValueError(f"{key}: expected {c} weights, got {w.size}.")
        out[f"lin{i}"] = w
    return out


def load_torch_state_dict(path: str) -> dict[str, np.ndarray]:
    """Reads a ``.pth`` state dict of tensors without running code from it.

    ``torch.load(..., weights_only=True)`` unpickles only tensors and plain
    containers; a file that needs more (a pickled module, or code) is refused.
    PyTorch older than 1.13 has no ``weights_only`` and would unpickle
    arbitrary objects, so it is refused too. Every refusal is a
    :class:`~faceres_tf.errors.UserError` naming the file and what to do.
    """
    try:
        import torch  # optional, only for this conversion
    except ImportError as e:
        raise UserError("convert_lpips_weights needs PyTorch to read .pth files: "
                         "pip install torch (CPU build is enough), on any machine.") from e
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except TypeError as e:
        if "weights_only" not in str(e):
            raise
        raise UserError(
            f"PyTorch {getattr(torch, '__version__', '?')} cannot load {path} safely (no "
            "weights_only=True, added in 1.13); upgrade torch (pip install -U torch).") from None
    except Exception as e:  # noqa: BLE001 - torch raises UnpicklingError / RuntimeError
        raise UserError(
            f"{path}: not loadable as plain tensors with torch.load(weights_only=True) "
            f"({type(e).__name__}: {' '.join(str(e).split())[:200]}); only state dicts of "
            "tensors are accepted.") from None
    if hasattr(sd, "state_dict"):
        sd = sd.state_dict()
    if not isinstance(sd, dict):
        raise UserError(f"{path}: expected a state dict (name -> tensor), got {type(sd).__name__}")
    return {k: v.detach().cpu().numpy() for k, v in sd.items()}


def build_parser() -> cli.Parser:
    p = cli.make_parser("faceres-convert-lpips", __doc__.splitlines()[0],
                        output=dict(required=True, help="the LPIPS weights file to write (.npz)"),
                        overwrite="replace an existing --output file")
    p.add_argument("--lin", required=True, help="LPIPS v0.1 linear layers (lpips/weights/v0.1/vgg.pth)")
    p.add_argument("--vgg", required=True, help="torchvision vgg16 state dict (vgg16-397923af.pth)")
    return p


def convert_command(args) -> int:
    """The command: reads both state dicts, writes the ``.npz``."""
    out = Path(args.output)
    if out.suffix != ".npz":
        raise UserError(f"--output {out} must end in .npz (numpy.savez would append it)")
    if out.exists() and not args.overwrite:
        raise UserError(f"--output {out} exists; pass --overwrite to replace it")
    for flag, path in (("--lin", args.lin), ("--vgg", args.vgg)):
        if not Path(path).is_file():
            raise UserError(f"{flag} {path}: no such file")
    try:
        arrays = convert_state_dicts(load_torch_state_dict(args.lin), load_torch_state_dict(args.vgg))
    except (KeyError, ValueError) as e:  # the files are not the expected state dicts
        raise UserError(str(e).strip("'\"")) from None
    np.savez(out, **arrays)
    print(f"wrote {out} ({len(arrays)} arrays)")
    return 0


def main(argv=None) -> int:
    """``faceres-convert-lpips``; returns the exit status."""
    return cli.run(convert_command, build_parser(), argv, tensorflow=False)


if __name__ == "__main__":
    sys.exit(main())
