"""faceres_tf.config_ranges: the table of numeric ranges and its checker."""

import dataclasses
import re

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


@pytest.mark.parametrize("resolution, nodes", [(16, (8,)), (32, (8, 16)), (128, (8, 16, 32, 64)),
                                               (512, (8, 16, 32, 64, 128, 256)), (1024, (8, 16, 32, 64, 128, 256))])
def test_skip_nodes_are_the_paper_sides_below_the_resolution(resolution, nodes):
    from faceres_tf.models.channels import skip_resolutions

    assert config_ranges.skip_nodes(resolution) == nodes
    model = dataclasses.replace(presets.get("test").model, resolution=resolution, num_skips=len(nodes),
                                enc_ch_base=2 * resolution, dec_ch_base=2 * resolution)
    config_ranges.validate_model(model)  # all of them may be used
    assert skip_resolutions(model) == list(nodes)
    with pytest.raises(ConfigError, match=re.escape(f"only has {len(nodes)} skip nodes {list(nodes)}")):
        config_ranges.validate_model(dataclasses.replace(model, num_skips=len(nodes) + 1))


def test_choices_are_checked_with_one_message():
    cfg = presets.get("test")
    for key, section, choices in [("loss.perceptual", "loss", config_ranges.PERCEPTUAL_NETWORKS),
                                  ("train.precision", "train", config_ranges.PRECISION_CHOICES)]:
        field = key.split(".")[1]
        bad = dataclasses.replace(cfg, **{section: dataclasses.replace(getattr(cfg, section), **{field: "x"})})
        with pytest.raises(ConfigError, match=rf"^{key} must be one of {', '.join(choices)}, got 'x'$"):
            config_ranges.validate(bad)
    assert config_ranges.PRECISION_CHOICES == ("auto", *config_ranges.PRECISIONS)


@pytest.mark.parametrize("mixed", [False, True])
def test_configs_with_the_retired_mixed_precision_still_load(mixed, caplog):
    """Run directories and bundles written before train.precision was the one
    precision setting hold train.mixed_precision: it is read and dropped (a
    warning when it was on), and train.precision is kept."""
    import json
    import logging
    from pathlib import Path

    from faceres_tf.config import Config

    saved = presets.get("test").to_dict()
    saved["train"].update(mixed_precision=mixed, precision="bf16")
    with caplog.at_level(logging.WARNING, logger="faceres_tf.config"):
        cfg = Config.from_dict(saved)
    assert cfg.train.precision == "bf16" and not hasattr(cfg.train, "mixed_precision")
    assert ("train.mixed_precision=True in this config is retired" in caplog.text) == mixed
    bundle = Path(config_ranges.__file__).parent / "pretrained" / "rdfr_cpu256.json"
    record = json.loads(bundle.read_text())["config"]
    assert "mixed_precision" in record["train"]  # the bundled record predates the change
    assert Config.from_dict(record).train.precision == record["train"]["precision"]
