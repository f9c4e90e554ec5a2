"""The generator and discriminator build and run under Keras' JAX backend
(the model code is keras.ops only), in a subprocess with TensorFlow blocked."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    os.environ["KERAS_BACKEND"] = "jax"

    class NoTensorFlow:  # proves the model code needs no TensorFlow
        def find_spec(self, name, path=None, target=None):
            if name == "tensorflow" or name.startswith("tensorflow."):
                raise ImportError("tensorflow is blocked in this test")

    sys.meta_path.insert(0, NoTensorFlow())
    import jax
    import keras
    import numpy as np
    import faceres_tf
    from faceres_tf.layers import per_sample_noise
    from faceres_tf.models import inference_generator

    assert keras.backend.backend() == "jax"
    cfg = faceres_tf.presets.get("test")
    G = faceres_tf.build_generator(cfg)
    D = faceres_tf.build_discriminator(cfg)
    for v in G.weights:
        if "strength" in v.path:
            v.assign(0.5)
    x = np.random.default_rng(0).uniform(-1, 1, (3, 32, 32, 3)).astype("float32")
    seeds = np.array([3, -1, 5], np.int32)
    # Whole-graph jit: op-by-op (eager) JAX compiles every primitive separately.
    def compiled(model):
        return jax.jit(lambda a, s: model({"image": a, "noise_seed": s}))
    jit = compiled(G)
    y = np.asarray(jit(x, seeds))
    one = np.asarray(jit(x[2:], seeds[2:]))
    other = np.asarray(jit(x[2:], np.array([6], np.int32)))
    noise = jax.jit(lambda s: per_sample_noise(s, 8, 8, 1))
    n3, n1 = np.asarray(noise(seeds)), np.asarray(noise(seeds[2:]))
    bf16 = compiled(inference_generator(G, precision="bf16"))(x, seeds)
    folded = np.asarray(compiled(inference_generator(G))(x, seeds))
    # forward + backward of G through D (what a training step differentiates)
    from keras import ops
    def loss(gvars, dvars, a, s):
        img, _ = G.stateless_call(gvars, [v.value for v in G.non_trainable_variables],
                                  {"image": a, "noise_seed": s})
        logit, _ = D.stateless_call(dvars, [], img)
        return ops.mean(ops.softplus(-logit))
    gv = [v.value for v in G.trainable_variables]
    dv = [v.value for v in D.trainable_variables]
    grads = jax.jit(jax.grad(loss))(gv, dv, x, seeds)
    print(json.dumps({
        "shape": list(y.shape), "finite": bool(np.isfinite(y).all()),
        "d_shape": list(np.asarray(jax.jit(lambda a: D(a))(x)).shape),
        "batch_independent": float(np.abs(one[0] - y[2]).max()),
        "seed_changes": float(np.abs(other - one).max()),
        "noise_bitwise_per_sample": bool(np.array_equal(n3[2], n1[0])),
        "noise_zero_for_negative": bool((n3[1] == 0).all()),
        "bf16_dtype": str(bf16.dtype), "bf16_err": float(np.abs(np.asarray(bf16) - y).max()),
        "folded_err": float(np.abs(folded - y).max()), "range": float(np.abs(y).max()),
        "grads_finite": all(bool(np.isfinite(np.asarray(g)).all()) for g in grads),
        "n_grads": len(grads), "tf_loaded": "tensorflow" in sys.modules,
    }))
    """
)


@pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                    reason="jax is not installed (pip install 'jax[cpu]'; in the test extra)")
def test_generator_and_discriminator_run_under_jax(tmp_path):
    script = tmp_path / "jax_run.py"
    script.write_text(SCRIPT)
    # Optimisation level 0: XLA compiles ~3x faster; this test checks results, not speed.
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu",
               XLA_FLAGS="--xla_backend_optimization_level=0",
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["shape"] == [3, 32, 32, 3] and res["finite"] and res["d_shape"] == [3, 1]
    assert not res["tf_loaded"]
    assert res["batch_independent"] < 1e-5 * max(1.0, res["range"])
    assert res["seed_changes"] > 1e-3
    assert res["noise_bitwise_per_sample"] and res["noise_zero_for_negative"]
    assert res["bf16_dtype"] == "float32" and res["bf16_err"] < 0.05 * res["range"]
    assert res["folded_err"] < 1e-5 * max(1.0, res["range"])
    assert res["grads_finite"] and res["n_grads"] > 40
