"""Networks: Table 4 / Table 5 shapes, pinned parameter counts, seeds, save/load."""

import dataclasses

import keras
import numpy as np
import pytest

import faceres_tf
from faceres_tf import presets
from faceres_tf.config import ModelConfig, override
from faceres_tf.models.channels import skip_resolutions

# Pinned parameter counts (generator, discriminator) of every preset. A change
# here means the architecture changed: update deliberately.
PINNED = {
    "paper_512": (40_606_449, 21_409_665),
    "paper_256": (40_517_199, 21_380_865),
    "tiny": (608_843, 326_785),
    "cpu_128": (6_946_893, 4_102_529),
    "test": (25_897, 15_937),
}

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


def test_paper_512_matches_tables_4_and_5(paper_generator):
    G = paper_generator
    enc = {l.name: tuple(l.output.shape[1:]) for l in G.encoder.layers}
    for r, c in TABLE4:
        assert enc[f"resblock_{r}x{r}"] == (r, r, c)
    assert enc["attention_pooling"] == (512,)
    dec = {l.name: tuple(l.output.shape[1:]) for l in G.decoder.layers}
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
    run = lambda seeds: G({"image": x, "noise_seed": np.array(seeds, np.int32)}).numpy()
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
