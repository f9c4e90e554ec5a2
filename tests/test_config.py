"""faceres_tf.config: overrides (``--set``) and config files are parsed and
checked against the numeric ranges of faceres_tf.config_ranges, with messages
naming the key."""

from __future__ import annotations

import dataclasses

import pytest

from faceres_tf import presets
from faceres_tf.config import Config, override
from faceres_tf.config_ranges import NUMERIC_RANGES, WEIGHT_TUPLES
from faceres_tf.errors import ConfigError, UserError
from faceres_tf.run_config import resolve_config


@pytest.mark.parametrize("key,value,message", [
    ("train.ckpt_every", "0", "train.ckpt_every must be >= 1, got 0"),
    ("train.lr", "-0.1", "train.lr must be > 0, got -0.1"),
    ("train.steps", "-5", "train.steps must be >= 1, got -5"),
    ("train.beta2", "1", "train.beta2 must be >= 0 and < 1, got 1.0"),
    ("data.gray_prob", "1.5", "data.gray_prob must be >= 0 and <= 1, got 1.5"),
    ("data.jpeg_range", "90,60", "data.jpeg_range must be (min, max) with min <= max"),
    ("loss.alpha", "nan", "loss.alpha: must be a finite number, got 'nan'"),
    ("train.ema_half_life_images", "inf", "must be a finite number, got 'inf'"),
    ("data.blur_sigma", "0.1,inf", "data.blur_sigma: must be a finite number"),
])
def test_numeric_ranges_are_validated(key, value, message):
    with pytest.raises(ConfigError) as err:
        override(presets.get("test"), {key: value})
    assert message in str(err.value)


def test_every_numeric_field_has_a_range():
    cfg = presets.get("test")
    numeric = set()
    for section in ("model", "data", "loss", "train"):
        for f in dataclasses.fields(getattr(cfg, section)):
            v = f.default
            if isinstance(v, tuple) and v and isinstance(v[0], (int, float)):
                numeric.add(f"{section}.{f.name}")
            elif isinstance(v, (int, float)) and not isinstance(v, bool):
                numeric.add(f"{section}.{f.name}")
    # Pairs (min, max) are in NUMERIC_RANGES; per-layer weight lists in WEIGHT_TUPLES.
    assert numeric == set(NUMERIC_RANGES) | set(WEIGHT_TUPLES)
    for name in presets.names():  # every preset is inside the ranges
        presets.get(name)


def test_non_finite_values_in_a_config_file_are_rejected(tmp_path):
    text = presets.get("test").to_json().replace('"lr": 0.0025', '"lr": NaN')
    assert "NaN" in text
    with pytest.raises(ConfigError, match="NaN is not a finite number"):
        Config.from_json(text)


@pytest.mark.parametrize("item,message", [
    ("model.num_skips=abc", "model.num_skips: expected an integer, got 'abc'"),
    ("train.lr=fast", "train.lr: expected a number, got 'fast'"),
    ("loss.adv_aug=maybe", "loss.adv_aug: expected a boolean (true/false), got 'maybe'"),
    ("data.jpeg_range=60,x", "data.jpeg_range: expected an integer, got 'x'"),
    ("train.seed=1.5", "train.seed: expected an integer, got '1.5'"),
])
def test_set_type_errors_name_the_key(item, message):
    key, value = item.split("=", 1)
    with pytest.raises(ConfigError) as err:
        override(presets.get("test"), {key: value})
    assert str(err.value) == message
    with pytest.raises(UserError) as err:  # what --set reports
        resolve_config("test", [item])
    assert message in str(err.value)
