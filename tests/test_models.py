"""Networks: Table 4 / Table 5 shapes, pinned parameter counts, seeds, save/load."""

import dataclasses
import hashlib
import json
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import faceres_tf
from faceres_tf import presets
from faceres_tf.config import override
from faceres_tf.models.channels import skip_resolutions

# Pinned parameter counts (generator, discriminator) of every preset. A change
# here means the architecture changed: update deliberately.
PINNED = {
    "paper_512": (40_606_449, 21_409_665),
    "paper_256": (40_517_199, 21_380_865),
    "tiny": (608_843, 326_785),
    "cpu_128": (6_946_893, 4_102_529),
    "cpu_256": (6_977_314, 4_109_505),
    "test": (25_897, 15_937),
}

# sha256 (first 16 hex digits) of the JSON list [[variable path, shape], ...]
# of G and D of every preset, in order, as of the models that trained the
# first checkpoints (commit 8677239). Checkpoints and ``set_weights`` depend on
# exactly these: never change them for an existing preset.
VARIABLE_LAYOUT = {
    "paper_512": ("dcf551405736f90b", "6c6459e2fa53190f"),
    "paper_256": ("2471dd1b76486888", "b5c95dd59e9061f6"),
    "tiny": ("b17a340b0309bc01", "6be1db57951b5620"),
    "test": ("3ed7554eb80ca0d6", "f18e1491925a4462"),
    "cpu_128": ("3615bd7cebbdf40b", "bab6fc5f0bceb458"),
    "cpu_256": ("d61245892a05e90a", "226f031471436e93"),
}
LEGACY = Path(__file__).parent / "data" / "legacy_test_ckpt"


def _layout_hash(model):
    layout = [[v.path, list(v.shape)] for v in model.weights]
    return hashlib.sha256(json.dumps(layout).encode()).hexdigest()[:16]

TABLE4 = [(256, 32), (128, 64), (64, 128), (32, 256), (16, 512), (8, 512), (4, 512)]
TABLE5 = [(8, 512), (16, 512), (32, 512), (64, 256), (128, 128), (256, 64), (512, 32)]


@pytest.fixture(scope="module")
def paper_generator():
    return faceres_tf.build_generator(presets.get("paper_512"))


def test_presets_have_pinned_parameter_counts():
    assert sorted(PINNED) == presets.names()
    for name, (g, d) in PINNED.items():
        cfg = presets.get(name)
        assert faceres_tf.build_generator(cfg).count_params() == g, name
        assert faceres_tf.build_discriminator(cfg).count_params() == d, name


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_variable_layout_is_pinned(precision):
    for name, (g_hash, d_hash) in VARIABLE_LAYOUT.items():
        cfg = presets.get(name)
        G = faceres_tf.build_generator(cfg, precision=precision)
        assert _layout_hash(G) == g_hash, name
        assert all(v.dtype == "float32" for v in G.weights)  # bf16: float32 master weights
        if precision == "fp32":
            assert _layout_hash(faceres_tf.build_discriminator(cfg)) == d_hash, name
    # The noise-input form (TFLite export) has the same variables.
    twin = faceres_tf.build_generator(presets.get("cpu_128"), noise_inputs=True)
    assert _layout_hash(twin) == VARIABLE_LAYOUT["cpu_128"][0]


# Float32 results of one computation differ between CPUs (AVX2 vs AVX-512
# kernels, oneDNN on or off) in the last bits: 7e-7 at most on this test's
# generator output (max |y| 1.7) between an AVX2-only and an AVX-512 CPU.
# References stored by another machine are compared within this relative
# tolerance (of the reference's largest magnitude), ~15x that spread and far
# below any real change (a different weight or noise stream moves outputs by
# > 1e-2).
CROSS_CPU_RTOL = 1e-5


def assert_close_across_cpus(got, ref, what: str) -> None:
    """``got`` equals the stored ``ref`` within :data:`CROSS_CPU_RTOL`."""
    scale = float(np.abs(ref).max())
    err = float(np.abs(np.asarray(got, np.float64) - ref).max())
    assert err <= CROSS_CPU_RTOL * scale, f"{what}: max |diff| {err:.3g} > {CROSS_CPU_RTOL} x {scale:.3g}"


def test_legacy_checkpoint_loads_and_reproduces():
    """A checkpoint written by the pre-JAX-port models (tests/data/
    make_legacy_checkpoint.py) restores every variable and reproduces its
    G and D outputs, seeded noise included, within float32 rounding across
    CPUs (:data:`CROSS_CPU_RTOL`; the reference was written on another machine)."""
    ref = np.load(LEGACY / "reference.npz")
    cfg = presets.get("test")
    G, D = faceres_tf.build_generator(cfg), faceres_tf.build_discriminator(cfg)
    assert (G.count_params(), D.count_params()) == (int(ref["g_params"]), int(ref["d_params"]))
    ckpt = tf.train.Checkpoint(step=tf.Variable(0, dtype=tf.int64), generator_ema=G, discriminator=D)
    ckpt.read(str(LEGACY / "ckpt")).assert_consumed()
    out = G({"image": ref["image"], "noise_seed": ref["seeds"]}).numpy()
    assert_close_across_cpus(out, ref["g_out"], "generator")
    assert_close_across_cpus(D(np.concatenate([ref["image"], ref["image"][:1]])).numpy(), ref["d_out"],
                             "discriminator")
    assert_close_across_cpus(faceres_tf.layers.per_sample_noise(ref["seeds"], 16, 16, 1).numpy(),
                             ref["noise_1"], "noise")
    # The same weights also load under bf16 (float32 variables, bfloat16 compute).
    Gb = faceres_tf.build_generator(cfg, precision="bf16")
    tf.train.Checkpoint(generator_ema=Gb).read(str(LEGACY / "ckpt")).expect_partial() \
        .assert_existing_objects_matched()
    outb = Gb({"image": ref["image"], "noise_seed": ref["seeds"]})
    assert outb.dtype == "float32"
    assert np.abs(outb.numpy() - ref["g_out"]).max() < 0.05 * np.abs(ref["g_out"]).max()


def test_weights_round_trip_between_precisions_and_noise_forms(tmp_path):
    cfg = presets.get("test")
    G = faceres_tf.build_generator(cfg)
    path = tmp_path / "g.weights.h5"
    G.save_weights(path)
    for precision in ("fp32", "bf16"):
        for noise_inputs in (False, True):
            twin = faceres_tf.build_generator(cfg, precision=precision, noise_inputs=noise_inputs)
            twin.load_weights(path)
            for a, b in zip(G.weights, twin.weights):
                np.testing.assert_array_equal(a.numpy(), b.numpy())


def _computing_layers(model):
    return [la for la in model._flatten_layers(include_self=False, recursive=True)
            if not isinstance(la, keras.layers.InputLayer)]


@pytest.mark.parametrize("preset", ["test", "cpu_256"])
def test_precision_is_a_dtype_policy_not_a_global_switch(preset):
    """bf16 reaches every layer of G and D as their ``dtype`` argument, leaves
    Keras' global policy alone, survives get_config, and computes exactly what
    the same network built under the global mixed_bfloat16 policy computes."""
    cfg = presets.get(preset)
    G = faceres_tf.build_generator(cfg, precision="bf16")
    D = faceres_tf.build_discriminator(cfg, precision="bf16")
    assert keras.config.dtype_policy().name == "float32"
    for model in (G, D):
        assert model.dtype_policy.name == "mixed_bfloat16"
        assert {la.dtype_policy.name for la in _computing_layers(model)} == {"mixed_bfloat16"}
    twin = faceres_tf.models.Generator.from_config(G.get_config())
    assert {la.dtype_policy.name for la in _computing_layers(twin)} == {"mixed_bfloat16"}
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        ref = faceres_tf.build_generator(cfg)
    finally:
        keras.config.set_dtype_policy("float32")
    ref.set_weights(G.get_weights())
    r = cfg.model.resolution
    x = {"image": np.random.default_rng(0).uniform(-1, 1, (2, r, r, 3)).astype(np.float32),
         "noise_seed": np.array([3, 4], np.int32)}
    np.testing.assert_array_equal(G(x).numpy(), ref(x).numpy())


def test_model_config_is_validated_once_per_generator(monkeypatch):
    from faceres_tf.models import base

    calls = []
    monkeypatch.setattr(base, "validate_model", lambda m: calls.append(m))
    base._validated.cache_clear()
    faceres_tf.build_generator(presets.get("cpu_256"))
    assert len(calls) == 1
    base._validated.cache_clear()
    with pytest.raises(faceres_tf.config.ConfigError, match="num_skips"):
        monkeypatch.undo()
        faceres_tf.build_generator(dataclasses.replace(presets.get("test").model, num_skips=6))


def test_noise_inputs_form_matches_seeded_form():
    from faceres_tf import export_tflite

    cfg = presets.get("test")
    G = faceres_tf.build_generator(cfg)
    for v in G.weights:
        if "strength" in v.path:
            v.assign(0.5)
    twin = faceres_tf.build_generator(cfg, noise_inputs=True)
    twin.set_weights(G.get_weights())
    seeds = np.array([4, -1], np.int32)
    x = _gen_inputs(2)
    maps = export_tflite.noise_for_seeds(G, seeds)
    assert sorted(maps) == sorted(k for k in twin.input if k.startswith("noise_"))
    np.testing.assert_allclose(twin({"image": x, **maps}).numpy(),
                               G({"image": x, "noise_seed": seeds}).numpy(), atol=1e-6)


def test_paper_512_matches_tables_4_and_5(paper_generator):
    G = paper_generator
    enc = {layer.name: tuple(layer.output.shape[1:]) for layer in G.encoder.layers}
    for r, c in TABLE4:
        assert enc[f"resblock_{r}x{r}"] == (r, r, c)
    assert enc["attention_pooling"] == (512,)
    dec = {layer.name: tuple(layer.output.shape[1:]) for layer in G.decoder.layers}
    assert dec["last_feature"] == (4, 4, 512)
    for r, c in TABLE5:
        assert dec[f"styleblock_{r}x{r}"] == (r, r, c)
    assert dec["to_rgb"] == (512, 512, 3)
    # Default: 4 skips at 8^2, 16^2, 32^2, 64^2 (appendix C.1).
    assert skip_resolutions(G.model_config) == [8, 16, 32, 64]
    assert G.output.shape[1:] == (512, 512, 3)


def test_paper_512_training_settings():
    cfg = presets.get("paper_512")
    assert (cfg.train.batch_size, cfg.train.lr, cfg.train.beta1, cfg.train.beta2) == (32, 2.5e-3, 0.0, 0.99)
    assert cfg.loss.alpha == 1.0 and cfg.model.num_skips == 4


@pytest.mark.parametrize("num_skips", [0, 1, 2, 4, 6])
def test_num_skips_wires_the_first_n_nodes(num_skips):
    cfg = dataclasses.replace(presets.get("test").model, resolution=512, enc_ch_base=2048,
                              dec_ch_base=2048, ch_max=8, num_skips=num_skips)
    G = faceres_tf.build_generator(cfg)
    wired = sorted(int(k.split("_")[1]) for k in G.decoder.input if k.startswith("feature_"))
    assert wired == [8, 16, 32, 64, 128, 256][:num_skips]


@pytest.mark.parametrize("resolution", [16, 64, 128])
def test_generic_resolution(resolution):
    cfg = dataclasses.replace(presets.get("test").model, resolution=resolution, num_skips=1)
    G = faceres_tf.build_generator(cfg)
    D = faceres_tf.build_discriminator(cfg)
    x = np.zeros((2, resolution, resolution, 3), np.float32)
    assert G({"image": x, "noise_seed": np.zeros(2, np.int32)}).shape == (2, resolution, resolution, 3)
    assert D(x).shape == (2, 1)


def test_invalid_configs_are_clear():
    cfg = presets.get("test")
    with pytest.raises(ValueError, match="power of two"):
        override(cfg, {"model.resolution": 48})
    with pytest.raises(ValueError, match="skip nodes"):
        override(cfg, {"model.num_skips": 5})  # 32 px has 8 and 16 only
    with pytest.raises(ValueError, match="valid"):
        override(cfg, {"model.no_such_field": 1})
    with pytest.raises(ValueError, match="skip nodes"):
        faceres_tf.build_generator(dataclasses.replace(cfg.model, num_skips=3))
    with pytest.raises(KeyError, match="available presets"):
        presets.get("nope")


def _gen_inputs(batch=3, res=32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (batch, res, res, 3)).astype(np.float32)


def test_seeded_noise_behaviour():
    cfg = override(presets.get("test"), {"model.num_skips": 0})
    G = faceres_tf.build_generator(cfg)
    x = _gen_inputs(2)

    def run(seeds):
        return G({"image": x, "noise_seed": np.array(seeds, np.int32)}).numpy()

    a, b = run([1, 1]), run([1, 1])
    np.testing.assert_array_equal(a, b)  # same seed -> bit-identical
    c = run([2, 2])
    assert np.abs(a - c).mean() > 1e-4  # different seeds -> different restorations
    z1, z2 = run([-1, -1]), run([-5, -9])
    np.testing.assert_array_equal(z1, z2)  # negative seed -> zero noise, deterministic
    # Zero noise equals switching every noise strength off.
    for w in G.weights:
        if "strength" in w.path:
            w.assign(0.0)
    np.testing.assert_allclose(run([4, 7]), z1, atol=1e-6)


def test_seed_result_independent_of_batch():
    G = faceres_tf.build_generator(presets.get("test"))
    x = _gen_inputs(3)
    full = G({"image": x, "noise_seed": np.array([5, 6, 7], np.int32)}).numpy()
    one = G({"image": x[1:2], "noise_seed": np.array([6], np.int32)}).numpy()
    np.testing.assert_allclose(full[1:2], one, atol=1e-5)


def test_keras_save_load_round_trip(tmp_path):
    cfg = override(presets.get("test"), {"model.quantize": True, "model.skip_fusion": "add"})
    for model in (faceres_tf.build_generator(cfg), faceres_tf.build_discriminator(cfg)):
        path = tmp_path / f"{model.name}.keras"
        model.save(path)
        loaded = keras.saving.load_model(path)
        assert type(loaded) is type(model)
        x = _gen_inputs(2)
        if model.name == "generator":
            inp = {"image": x, "noise_seed": np.array([3, -1], np.int32)}
        else:
            inp = x
        np.testing.assert_array_equal(model(inp).numpy(), loaded(inp).numpy())


def _tiny_cfg(**model_fields):
    cfg = presets.get("test")
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, **model_fields))


def test_fidelity_input_scales_the_skips():
    """w = 1 (or no fidelity given) is the model without the knob, with the
    same weights; w = 0 is the model whose skip features are all zero."""
    with_knob = faceres_tf.build_generator(_tiny_cfg(fidelity_input=True))
    plain = faceres_tf.build_generator(_tiny_cfg())
    assert [(v.path, tuple(v.shape)) for v in with_knob.weights] == [
        (v.path, tuple(v.shape)) for v in plain.weights]
    plain.set_weights(with_knob.get_weights())
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (3, 32, 32, 3)).astype(np.float32)
    seeds = np.array([1, 2, -1], np.int32)
    ref = plain({"image": x, "noise_seed": seeds}).numpy()
    default = with_knob({"image": x, "noise_seed": seeds}).numpy()
    ones = with_knob({"image": x, "noise_seed": seeds, "fidelity": np.ones(3, np.float32)}).numpy()
    np.testing.assert_allclose(default, ref, rtol=0, atol=1e-5)
    np.testing.assert_allclose(ones, ref, rtol=0, atol=1e-5)
    # w = 0: the decoder sees zero skip features.
    feats = with_knob.encoder(x)
    dec_in = {"last_feature": feats["feature_4"], "modulation": feats["pooled"],
              "noise_seed": tf.constant(seeds)}
    for r in (8, 16):
        dec_in[f"feature_{r}"] = tf.zeros_like(feats[f"feature_{r}"])
    zero_ref = with_knob.decoder(dec_in).numpy()
    zero = with_knob({"image": x, "noise_seed": seeds, "fidelity": np.zeros(3, np.float32)}).numpy()
    np.testing.assert_allclose(zero, zero_ref, rtol=0, atol=1e-5)
    assert np.abs(zero - ref).max() > 1e-3


def test_lowres_rgb_adds_the_upsampled_lower_output():
    """With model.lowres_rgb the output is the final ToRGB's plus the
    r x r ToRGB's upsampled bilinearly; zeroing the final ToRGB leaves the latter."""
    g = faceres_tf.build_generator(_tiny_cfg(lowres_rgb=16))
    names = [v.path for v in g.weights]
    assert "to_rgb_16x16/conv/kernel" in names and "to_rgb/conv/kernel" in names
    for v in g.weights:
        if v.path in ("to_rgb/conv/kernel", "to_rgb/bias"):
            v.assign(tf.zeros_like(v))
    x = np.random.default_rng(1).uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    out = g({"image": x, "noise_seed": np.array([-1, -1], np.int32)}).numpy()
    dec = g.decoder
    low = keras.Model(dec.inputs, dec.get_layer("to_rgb_16x16").output)
    feats = g.encoder(x)
    dec_in = {"last_feature": feats["feature_4"], "modulation": feats["pooled"],
              "noise_seed": tf.constant([-1, -1], tf.int32)}
    for r in (8, 16):
        dec_in[f"feature_{r}"] = feats[f"feature_{r}"]
    expected = tf.image.resize(low(dec_in), (32, 32), "bilinear").numpy()
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="lowres_rgb"):
        faceres_tf.build_generator(_tiny_cfg(lowres_rgb=32))
