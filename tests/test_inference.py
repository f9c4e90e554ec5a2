"""Inference copies of the generator (faceres_tf.models.inference): folded
constants, bf16 precision, explicit noise inputs, and the restore runner.

Stated tolerance of the folded fp32 graph against the training graph: max
|difference| <= 4e-6 x max |output| (float32 rounding of reassociated
products; measured 0.5-1.5e-6 relative here), i.e. far below one grey level.
"""

from __future__ import annotations

import numpy as np
import pytest

import faceres_tf
from faceres_tf import presets
from faceres_tf.config import override
from faceres_tf.models import inference_generator

FOLD_REL_TOL = 4e-6


def _generator(updates=None, seed=0):
    import keras

    keras.utils.set_random_seed(seed)
    G = faceres_tf.build_generator(override(presets.get("test"), updates or {}))
    rng = np.random.default_rng(seed)
    for v in G.weights:  # non-zero biases and noise strengths exercise every fold
        if "strength" in v.path or ("bias" in v.path and "affine" not in v.path):
            v.assign(rng.normal(0, 0.2, v.shape).astype("float32"))
    return G


def _inputs(batch=3):
    x = np.random.default_rng(1).uniform(-1, 1, (batch, 32, 32, 3)).astype("float32")
    return x, np.array([3, -1, 77, 3][:batch], np.int32)


@pytest.mark.parametrize("updates", [
    {},
    {"model.skip_fusion": "add", "model.upsample": "nearest"},
    {"model.num_skips": 0, "model.tanh_output": True},
    {"model.quantize": True},
])
def test_folded_fp32_matches_training_graph(updates):
    G = _generator(updates)
    x, seeds = _inputs()
    ref = G({"image": x, "noise_seed": seeds}).numpy()
    folded = inference_generator(G)
    assert folded.folded and not getattr(G, "folded", False)
    out = folded({"image": x, "noise_seed": seeds}).numpy()
    assert np.abs(out - ref).max() <= FOLD_REL_TOL * np.abs(ref).max()
    # Per-sample results do not depend on the batch (per-sample kernels).
    one = folded({"image": x[2:3], "noise_seed": seeds[2:3]}).numpy()
    np.testing.assert_allclose(one[0], out[2], rtol=0, atol=1e-6 * np.abs(ref).max())
    # The source generator is untouched.
    np.testing.assert_array_equal(G({"image": x, "noise_seed": seeds}).numpy(), ref)


def test_folded_graph_uses_both_modulation_forms():
    from faceres_tf.layers import ModulatedConv2D

    G = inference_generator(faceres_tf.build_generator(presets.get("tiny")))
    forms = {f"{block.name}/{layer.name}": layer.folded.weight_modulation
             for block in G.decoder.layers for layer in getattr(block, "_layers", [])
             if isinstance(layer, ModulatedConv2D)}
    assert forms["styleblock_8x8/conv1"] is False  # 8x8 activations, 3x3xCxC kernels
    assert forms["styleblock_64x64/conv2"] is True
    assert forms["to_rgb/conv"] is True


def test_bf16_is_close_to_fp32_and_returns_float32():
    G = _generator()
    x, seeds = _inputs()
    ref = G({"image": x, "noise_seed": seeds}).numpy()
    for fold in (False, True):
        out = inference_generator(G, precision="bf16", fold=fold)({"image": x, "noise_seed": seeds})
        assert out.dtype == "float32"
        err = np.abs(out.numpy() - ref).max() / np.abs(ref).max()
        assert err < 0.05, (fold, err)  # bfloat16 keeps ~3 significant digits


def test_runner_precisions_give_nearly_the_same_faces():
    from faceres_tf.face.generator_runner import GeneratorRunner

    G = _generator()
    faces = np.random.default_rng(2).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    seeds = [0, -1, 5]
    plain = GeneratorRunner.from_keras(G, batch_size=2, fold=False)(faces, seeds)
    fp32 = GeneratorRunner.from_keras(G, batch_size=2)(faces, seeds)
    bf16 = GeneratorRunner.from_keras(G, batch_size=2, precision="bf16")(faces, seeds)
    assert np.abs(fp32.astype(int) - plain.astype(int)).max() <= 1
    mse = np.mean((bf16.astype(float) - plain.astype(float)) ** 2)
    assert 10 * np.log10(255**2 / max(mse, 1e-12)) > 25
    with pytest.raises(ValueError, match="precision"):
        GeneratorRunner.from_keras(G, precision="int8")


def test_noise_input_twin_with_folding_matches_seeded():
    from faceres_tf import export_tflite

    G = _generator()
    x, seeds = _inputs(2)
    maps = export_tflite.noise_for_seeds(G, seeds)
    twin = inference_generator(G, noise_inputs=True)
    out = twin({"image": x, **maps}).numpy()
    ref = G({"image": x, "noise_seed": seeds}).numpy()
    assert np.abs(out - ref).max() <= FOLD_REL_TOL * np.abs(ref).max()


def test_restore_cli_precision_flag(tmp_path, capsys):
    import tensorflow as tf

    from faceres_tf import export, image_io, restore

    cfg = presets.get("test")
    G = _generator()
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text(cfg.to_json())
    tf.train.Checkpoint(generator_ema=G).save(str(run / "checkpoints" / "ckpt"))
    faces = tmp_path / "faces"
    rng = np.random.default_rng(3)
    for i in range(2):
        image_io.write_image(faces / f"f{i}.png", rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    outs = {}
    for precision in ("fp32", "bf16"):
        rc = restore.main(["--input", str(faces), "--output", str(tmp_path / precision), "--checkpoint",
                           str(run), "--aligned", "--precision", precision, "--quiet"])
        assert rc == 0
        outs[precision] = [image_io.read_image(tmp_path / precision / "restored_faces" / f"f{i}.png").rgb
                           for i in range(2)]
    for a, b in zip(outs["fp32"], outs["bf16"]):
        mse = np.mean((a.astype(float) - b.astype(float)) ** 2)
        assert 10 * np.log10(255**2 / max(mse, 1e-12)) > 25  # random weights; see bench_precision_quality
    sm = export.export_saved_model(G, tmp_path / "sm")
    capsys.readouterr()
    rc = restore.main(["--input", str(faces), "--output", str(tmp_path / "x"), "--saved_model", sm,
                       "--aligned", "--precision", "bf16", "--quiet"])
    assert rc == 2 and "applies to --checkpoint" in "".join(capsys.readouterr())
