"""faceres_tf.config_ranges: the table of numeric ranges and its checker."""

import dataclasses

import pytest

from faceres_tf import config_ranges, presets
from faceres_tf.errors import ConfigError


def test_num_skips_bound_is_the_number_of_skip_nodes():
    assert config_ranges.NUMERIC_RANGES["model.num_skips"] == (int, 0, len(config_ranges.SKIP_RESOLUTIONS))


@pytest.mark.parametrize("key,low,high,words", [
    ("train.lr", 0.0, None, "> 0"),
    ("train.beta2", 0.0, 1.0, ">= 0 and < 1"),
    ("data.gray_prob", 0.0, 1.0, ">= 0 and <= 1"),
    ("model.noise_strength_init", None, None, "a finite number"),
])
def test_describe_range(key, low, high, words):
    assert config_ranges.describe_range(key, low, high) == words


def test_check_field_values_names_the_key():
    cfg = presets.get("test")
    config_ranges.check_field_values(cfg)  # a preset passes
    bad = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, num_val=0))
    with pytest.raises(ConfigError, match=r"^train.num_val must be >= 1, got 0$"):
        config_ranges.check_field_values(bad)
    not_bool = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, hflip=1))
    with pytest.raises(ConfigError, match="data.hflip must be true or false, got 1"):
        config_ranges.check_field_values(not_bool)
