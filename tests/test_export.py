"""SavedModel / TFLite export: reloaded in a fresh process, outputs match Keras."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

import faceres_tf  # noqa: E402
from faceres_tf import export, export_tflite  # noqa: E402
from faceres_tf.models import inference_generator  # noqa: E402

SEEDS = np.array([3, -1, 3, 11], np.int32)

# Runs in a fresh interpreter that never imports faceres_tf (nor Keras models).
RELOAD_SCRIPT = textwrap.dedent(
    """
    import os, sys
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    import numpy as np, tensorflow as tf
    d = np.load(sys.argv[1])
    out = {}
    m = tf.saved_model.load(sys.argv[2])
    sig = m.signatures["serving_default"]
    out["sm_uint8"] = sig(image=tf.constant(d["u8"]), noise_seed=tf.constant(d["seeds"]))["image"].numpy()
    sigf = m.signatures["serving_float"]
    out["sm_float"] = sigf(image=tf.constant(d["f32"]), noise_seed=tf.constant(d["seeds"]))["image"].numpy()
    it = tf.lite.Interpreter(model_path=sys.argv[3])
    run = it.get_signature_runner()
    noise_names = [k for k in it.get_signature_list()["serving_default"]["inputs"] if k.startswith("noise_")]
    rows = []
    for i in range(len(d["u8"])):
        feeds = {k: d[k][i:i + 1] for k in noise_names}
        rows.append(run(image=d["u8"][i:i + 1], **feeds)["image"])
    out["tflite"] = np.concatenate(rows)
    assert "faceres_tf" not in sys.modules
    np.savez(sys.argv[4], **out)
    """
)


@pytest.fixture(scope="module")
def generator():
    tf.keras.utils.set_random_seed(1234)
    g = faceres_tf.build_generator(faceres_tf.presets.get("test"))
    # noise strength 0 at init would hide seed handling; make it visible
    for v in g.weights:
        if "strength" in v.path:
            v.assign(0.5)
    return g


def test_saved_model_and_tflite_match_keras_in_fresh_process(generator, tmp_path):
    r = faceres_tf.presets.get("test").model.resolution
    u8 = np.random.default_rng(0).integers(0, 256, (len(SEEDS), r, r, 3), dtype=np.uint8)
    u8[1] = u8[2] = u8[0]  # rows 0-2: one face, seeds 3 / zero noise / 3 again
    f32 = u8.astype(np.float32) / 127.5 - 1.0
    def run(model):
        y = np.clip(model({"image": f32, "noise_seed": SEEDS}, training=False).numpy(), -1, 1)
        return y, np.round((y + 1) * 127.5).astype(np.uint8)

    train_f, train_u8 = run(generator)  # the training graph
    # The SavedModel holds the folded inference copy; both are compared within
    # float32 rounding (at most one grey level).
    keras_f, keras_u8 = run(inference_generator(generator))
    assert np.abs(keras_f - train_f).max() < 1e-5
    assert np.abs(keras_u8.astype(int) - train_u8.astype(int)).max() <= 1
    assert not np.array_equal(keras_u8[0], keras_u8[1]), "seed must matter (noise strength 0.5)"
    np.testing.assert_array_equal(keras_u8[0], keras_u8[2])  # same seed, same output, any batch slot

    sm_dir = export.export_saved_model(generator, tmp_path / "sm")
    tfl = export_tflite.export_tflite(generator, tmp_path / "m.tflite")
    with pytest.raises(FileExistsError):
        export.export_saved_model(generator, tmp_path / "sm")  # no silent overwrite
    noise = export_tflite.noise_for_seeds(generator, SEEDS)
    assert np.all(noise[next(iter(noise))][1] == 0)  # seed -1 -> zero noise
    np.savez(tmp_path / "in.npz", u8=u8, f32=f32, seeds=SEEDS, **noise)
    script = tmp_path / "reload.py"
    script.write_text(RELOAD_SCRIPT)
    proc = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "in.npz"), sm_dir, tfl, str(tmp_path / "out.npz")],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = np.load(tmp_path / "out.npz")
    # The reloaded SavedModel runs as a graph (grappler may fuse conv + bias +
    # activation, a oneDNN kernel on some CPUs) while Keras runs eagerly: equal
    # within float32 rounding, not bit for bit (at most one grey level).
    assert np.abs(out["sm_float"] - keras_f).max() <= 1e-5
    assert np.abs(out["sm_uint8"].astype(int) - keras_u8.astype(int)).max() <= 1
    assert out["tflite"].dtype == np.uint8
    assert np.abs(out["tflite"].astype(int) - keras_u8.astype(int)).max() <= 2


def test_bf16_saved_model_is_close_to_fp32(generator, tmp_path):
    r = faceres_tf.presets.get("test").model.resolution
    u8 = np.random.default_rng(1).integers(0, 256, (2, r, r, 3), dtype=np.uint8)
    seeds = np.array([5, -1], np.int32)
    sm = tf.saved_model.load(export.export_saved_model(generator, tmp_path / "bf16", precision="bf16"))
    out = sm.signatures["serving_default"](image=tf.constant(u8), noise_seed=tf.constant(seeds))["image"]
    f32 = u8.astype(np.float32) / 127.5 - 1.0
    ref = np.clip(generator({"image": f32, "noise_seed": seeds}).numpy(), -1, 1)
    ref_u8 = np.round((ref + 1) * 127.5)
    diff = out.numpy().astype(float) - ref_u8
    psnr = 10 * np.log10(255.0**2 / max(np.mean(diff**2), 1e-12))
    # Random test weights amplify rounding much more than a trained model
    # would; the bf16 graph must still be the same picture.
    assert out.dtype == tf.uint8 and psnr > 25, psnr
    with pytest.raises(ValueError, match="precision"):
        export.export_saved_model(generator, tmp_path / "x", precision="fp16")


def test_export_command_refuses_overwrite_and_writes_info(generator, tmp_path, capsys):
    cfg = faceres_tf.presets.get("test")
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text(cfg.to_json())
    tf.train.Checkpoint(generator_ema=generator).save(str(run / "checkpoints" / "ckpt"))

    from faceres_tf import export_cli

    out = tmp_path / "exported"
    argv = [f"--workdir={run}", f"--output={out}", "--format=saved_model"]
    assert export_cli.main(argv) == 0
    info = json.loads((out / "export_info.json").read_text())
    assert info["resolution"] == cfg.model.resolution and "tflite" not in info
    assert (out / "saved_model" / "saved_model.pb").exists()
    assert export_cli.main(argv) == 2  # exists, no --overwrite
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "keep.txt").write_text("x")
    assert export_cli.main([f"--workdir={run}", f"--output={tmp_path / 'other'}", "--overwrite"]) == 2
    assert (tmp_path / "other" / "keep.txt").exists()  # never deletes a folder that is not an export
    assert "error: " in capsys.readouterr().err
