"""faceres_tf.training.monitor: stopping on a signal, the NaN check."""

import os
import signal

import pytest

from faceres_tf.training.monitor import check_finite, stop_on_signal


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_requests_a_stop_and_handlers_come_back(sig):
    previous = signal.getsignal(sig)
    with stop_on_signal() as stop:
        assert not stop.requested
        os.kill(os.getpid(), sig)  # handled at once: the process keeps running
        assert stop.requested and stop.signal == sig
    assert signal.getsignal(sig) is previous


def test_handlers_come_back_after_an_error():
    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(RuntimeError), stop_on_signal():
        raise RuntimeError("boom")
    assert signal.getsignal(signal.SIGTERM) is previous


def test_check_finite_names_the_loss():
    check_finite({"g_loss": 1.0, "step": 3, "time": float("inf")}, step=3)  # time is not a loss
    with pytest.raises(FloatingPointError, match="d_loss became nan at step 7; lower the lr"):
        check_finite({"g_loss": 1.0, "d_loss": float("nan")}, step=7)
