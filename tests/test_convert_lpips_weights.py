"""convert_lpips_weights loads .pth files without unpickling code.

torch is not a dependency, so a stand-in module records how ``torch.load`` is
called; a real pickle shows what ``weights_only=False`` would have run.
"""

from __future__ import annotations

import pickle
import sys
import types

import numpy as np
import pytest

from faceres_tf.errors import UserError
from faceres_tf.metrics import convert_lpips_weights as conv


class _Tensor:
    def __init__(self, a):
        self.a = np.asarray(a)

    def detach(self):
        return self

    def cpu(self):
        return self

    def numpy(self):
        return self.a


def _fake_torch(monkeypatch, load, version="2.5.0"):
    torch = types.ModuleType("torch")
    torch.__version__ = version
    torch.load = load
    monkeypatch.setitem(sys.modules, "torch", torch)
    return torch


def test_torch_load_is_called_with_weights_only(monkeypatch):
    calls = []

    def load(path, map_location=None, weights_only=False):
        calls.append({"path": path, "map_location": map_location, "weights_only": weights_only})
        return {"lin0.model.1.weight": _Tensor(np.ones((1, 64, 1, 1)))}

    _fake_torch(monkeypatch, load)
    sd = conv.load_torch_state_dict("vgg.pth")
    assert calls == [{"path": "vgg.pth", "map_location": "cpu", "weights_only": True}]
    assert sd["lin0.model.1.weight"].shape == (1, 64, 1, 1)


def test_old_torch_without_weights_only_is_refused(monkeypatch, tmp_path):
    ran = tmp_path / "payload_ran"

    class Payload:  # what a hostile .pth can hold: code run by unpickling
        def __reduce__(self):
            return (open, (str(ran), "w"))

    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps({"x": Payload()}))

    def old_load(f, map_location=None):  # torch < 1.13: no weights_only, plain unpickling
        with open(f, "rb") as fh:
            return pickle.load(fh)

    _fake_torch(monkeypatch, old_load, version="1.12.1")
    with pytest.raises(UserError, match=r"PyTorch 1.12.1 cannot load .*evil.pth safely"):
        conv.load_torch_state_dict(str(path))
    assert not ran.exists()  # nothing from the file was executed
    old_load(str(path))  # the previous call, torch.load(path) on old torch, would have run it
    assert ran.exists()


def test_file_needing_more_than_tensors_is_refused(monkeypatch, tmp_path):
    def strict_load(f, map_location=None, weights_only=False):
        assert weights_only
        raise pickle.UnpicklingError("Weights only load failed: unsupported global builtins.open")

    _fake_torch(monkeypatch, strict_load)
    with pytest.raises(UserError, match="not loadable as plain tensors with "
                                         r"torch.load\(weights_only=True\).*UnpicklingError"):
        conv.load_torch_state_dict(str(tmp_path / "evil.pth"))
