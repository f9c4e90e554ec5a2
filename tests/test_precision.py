"""--precision auto: faceres_tf.models.precision.resolve_precision with mocked CPU
flags and a mocked micro-benchmark, and where "auto" is accepted."""

import logging
import math
import tempfile

import pytest

from faceres_tf import presets
from faceres_tf.config import override
from faceres_tf.errors import ConfigError
from faceres_tf.models import precision

AMD_AVX512_BF16 = "fpu vme sse2 avx avx2 fma avx512f avx512bw avx512_bf16 avx512_vnni"
AMD_AVX2 = "fpu vme sse2 avx avx2 fma"
XEON_AMX = "fpu sse2 avx2 avx512f avx512_bf16 amx_bf16 amx_tile amx_int8"


def _cpuinfo(tmp_path, flags: str):
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: {flags}\n\n"
                    f"processor\t: 1\nflags\t\t: {flags}\n")
    return path


@pytest.fixture
def machine(monkeypatch):
    """Sets the CPU flags and the bf16 conv speed-up resolve_precision sees;
    records how often the micro-benchmark ran."""
    calls = []

    def set_machine(flags: str, speedup: float = 1.0):
        monkeypatch.setattr(precision, "cpu_flags", lambda *a: frozenset(flags.split()))

        def bench(*a):
            calls.append(1)
            return speedup

        monkeypatch.setattr(precision, "bf16_conv_speedup", bench)
        precision._resolve_auto.cache_clear()  # "auto" is decided once per process
        return calls

    yield set_machine
    precision._resolve_auto.cache_clear()  # forget the mocked machine's decision


def test_cpu_flags_reads_the_first_flags_line(tmp_path):
    flags = precision.cpu_flags(_cpuinfo(tmp_path, AMD_AVX512_BF16))
    assert "avx512_bf16" in flags and "amx_bf16" not in flags
    assert precision.cpu_flags(tmp_path / "missing") == frozenset()


@pytest.mark.parametrize("flags, unit", [(AMD_AVX512_BF16, "AVX-512 BF16"), (XEON_AMX, "AMX"),
                                         (AMD_AVX2, None), ("", None)])
def test_native_bf16_unit(flags, unit):
    assert precision.native_bf16_unit(set(flags.split())) == unit


@pytest.mark.parametrize("asked", ["fp32", "bf16"])
def test_explicit_precision_is_kept_without_benchmark(machine, asked):
    calls = machine(AMD_AVX2, speedup=0.5)
    assert precision.resolve_precision(asked) == (asked, "asked for")
    assert not calls


def test_auto_without_native_bf16_is_fp32_and_skips_the_benchmark(machine, caplog):
    calls = machine(AMD_AVX2, speedup=3.0)  # a benchmark would say bf16: it must not run
    with caplog.at_level(logging.INFO, logger="faceres_tf.precision"):
        chosen, reason = precision.resolve_precision("auto")
    assert chosen == "fp32" and "no native bfloat16" in reason
    assert not calls
    assert "Precision auto -> fp32" in caplog.text and reason in caplog.text


@pytest.mark.parametrize("flags, unit", [(AMD_AVX512_BF16, "AVX-512 BF16"), (XEON_AMX, "AMX")])
def test_auto_with_native_bf16_and_faster_bf16_is_bf16(machine, caplog, flags, unit):
    calls = machine(flags, speedup=1.9)
    with caplog.at_level(logging.INFO, logger="faceres_tf.precision"):
        chosen, reason = precision.resolve_precision("auto")
    assert chosen == "bf16"
    assert unit in reason and "1.90x" in reason
    assert len(calls) == 1
    assert "Precision auto -> bf16" in caplog.text


@pytest.mark.parametrize("speedup", [0.6, 1.0, precision.BF16_MIN_SPEEDUP - 0.01])
def test_auto_with_native_bf16_but_no_gain_is_fp32(machine, speedup):
    machine(AMD_AVX512_BF16, speedup=speedup)
    chosen, reason = precision.resolve_precision("auto")
    assert chosen == "fp32" and "AVX-512 BF16" in reason and f"{speedup:.2f}x" in reason


def test_auto_is_fp32_when_the_bf16_conv_fails(machine, monkeypatch):
    """A CPU that lists AVX-512 BF16 while oneDNN is capped below it
    (ONEDNN_MAX_CPU_ISA=AVX2) cannot run a bf16 conv: auto falls back to fp32."""
    machine(AMD_AVX512_BF16)

    def failing():
        raise RuntimeError("could not create a primitive descriptor for the convolution")

    monkeypatch.setattr(precision, "bf16_conv_speedup", failing)
    chosen, reason = precision.resolve_precision("auto")
    assert chosen == "fp32" and "bf16 conv failed" in reason and "primitive descriptor" in reason


def test_unknown_precision_names_the_choices():
    with pytest.raises(ValueError, match="auto, fp32, bf16"):
        precision.resolve_precision("fp16")
    with pytest.raises(ValueError, match="auto, fp32, bf16"):
        precision.dtype_policy("fp16")


def test_dtype_policy_resolves_auto(machine):
    machine(AMD_AVX512_BF16, speedup=2.0)
    assert precision.dtype_policy("auto").name == "mixed_bfloat16"
    machine(AMD_AVX2)
    assert precision.dtype_policy("auto").name == "float32"
    assert precision.dtype_policy("bf16").compute_dtype == "bfloat16"
    assert precision.dtype_policy("bf16").variable_dtype == "float32"


def test_auto_is_decided_and_logged_once_per_process(machine, caplog):
    calls = machine(AMD_AVX512_BF16, speedup=1.5)
    with caplog.at_level(logging.INFO, logger="faceres_tf.precision"):
        first = [precision.resolve_precision("auto") for _ in range(3)]
        precision.dtype_policy("auto")
    assert first == [first[0]] * 3 and first[0][0] == "bf16"
    assert len(calls) == 1
    assert caplog.text.count("Precision auto ->") == 1


def test_micro_benchmark_measures_once_per_process():
    precision.bf16_conv_speedup.cache_clear()
    first = precision.bf16_conv_speedup()
    assert math.isfinite(first) and first > 0
    assert precision.bf16_conv_speedup() == first  # cached: not measured again
    assert precision.bf16_conv_speedup.cache_info().misses == 1


def test_auto_is_the_default_of_training_restore_and_export():
    import inspect

    from faceres_tf import restore
    from faceres_tf.config import TrainConfig
    from faceres_tf.export import export_run

    assert TrainConfig().precision == "auto"
    assert {presets.get(n).train.precision for n in presets.names() if n != "test"} == {"auto"}
    assert presets.get("test").train.precision == "fp32"  # tests do not depend on the CPU
    assert restore.build_parser().parse_args(["-i", "in.jpg", "-o", "out"]).precision == "auto"
    assert inspect.signature(export_run).parameters["precision"].default == "auto"


def test_config_accepts_auto_and_rejects_others():
    cfg = override(presets.get("test"), {"train.precision": "auto"})
    assert cfg.train.precision == "auto"
    with pytest.raises(ConfigError, match="train.precision must be one of auto, fp32, bf16"):
        override(presets.get("test"), {"train.precision": "fp16"})


def test_trainer_builds_in_the_resolved_precision(machine):
    from faceres_tf.training import Trainer, make_strategy

    machine(AMD_AVX512_BF16, speedup=1.8)
    cfg = override(presets.get("test"), {"train.precision": "auto"})
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(cfg, tmp, make_strategy("auto"))
    assert trainer.precision == "bf16"
    assert trainer.G.dtype_policy.name == "mixed_bfloat16"


def test_export_keeps_another_model_as_built_under_auto(machine):
    import keras

    from faceres_tf.export import prepare_generator

    calls = machine(AMD_AVX512_BF16, speedup=2.0)
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(3, 3, padding="same")])
    assert prepare_generator(model, "auto") is model
    assert not calls  # nothing to decide for a model that is not a faceres_tf Generator
