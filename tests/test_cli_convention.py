"""One command-line convention for every command (faceres_tf/cli.py, experiments/cli.py).

For each installed command (argparse) and each experiments driver (absl), in
subprocesses run in parallel: ``--help`` exits 0, lists defaults and the
shared flags, and prints nothing on stderr; a bad flag is exactly one line
``error: ...`` on stderr with exit status 2; a renamed flag names its new
name; a run that loads TensorFlow shows none of its C++ start-up log.
"""

from __future__ import annotations

import importlib
import platform
import subprocess
import sys

import pytest
from commands import ENV, REPO, TF_NOISE, argv_of, console_scripts, experiment_drivers, run_all

# argparse commands -> (shared flags their --help must list, arguments that satisfy the required ones)
ARGPARSE = {
    "faceres-restore": (["-i INPUT, --input INPUT", "-o OUTPUT, --output OUTPUT", "--overwrite", "--quiet",
                         "--verbose"], ["-i", "in", "-o", "out"]),
    "faceres-evaluate": (["-o OUTPUT, --output OUTPUT", "--overwrite", "--quiet", "--verbose"],
                         ["--restored", "a", "--gt", "b"]),
    "faceres-prepare": (["-i INPUT, --input INPUT", "-o OUTPUT, --output OUTPUT", "--quiet", "--verbose"],
                        ["-i", "in", "-o", "out", "--resolution", "8"]),
    "faceres-convert-lpips": (["-o OUTPUT, --output OUTPUT", "--overwrite", "--verbose"],
                              ["--lin", "a", "--vgg", "b", "-o", "c.npz"]),
    "faceres-train": (["--quiet", "--verbose", "--workdir WORKDIR", "--init INIT", "--set SECTION.FIELD=VALUE",
                       "--nojit_compile", "(default: auto)"], ["--workdir", "w"]),
    "faceres-export": (["-o OUTPUT, --output OUTPUT", "--overwrite", "--verbose", "--noema", "(default: auto)"],
                       ["--workdir", "a", "-o", "b"]),
    "faceres-bundle": (["-o OUTPUT, --output OUTPUT", "--overwrite", "--verbose"],
                       ["--checkpoint", "a", "--name", "b"]),
    "tools.make_samples": (["-i INPUT, --input INPUT", "-o OUTPUT, --output OUTPUT", "--verbose"], []),
}
# the same commands started as modules (python -m), for their `if __name__ == "__main__"`
MODULES = {"faceres_tf.restore": "faceres-restore", "faceres_tf.evaluate": "faceres-evaluate",
           "faceres_tf.train": "faceres-train", "faceres_tf.export_cli": "faceres-export",
           "faceres_tf.pretrained.bundle": "faceres-bundle", "faceres_tf.data.prepare": "faceres-prepare",
           "faceres_tf.metrics.convert_lpips_weights": "faceres-convert-lpips"}
# every user-facing command of the package (pyproject's [project.scripts])
COMMANDS = {"faceres-restore", "faceres-evaluate", "faceres-train", "faceres-export", "faceres-bundle",
            "faceres-prepare", "faceres-convert-lpips"}
DRIVERS = experiment_drivers()
BAD_FLAG = "--no_such_flag"


def _cases(tmp):
    cases = {}
    for cmd, (_, required) in ARGPARSE.items():
        cases[("help", cmd)] = argv_of(cmd) + ["--help"]
        cases[("bad", cmd)] = argv_of(cmd) + required + [BAD_FLAG]
    for module in MODULES:
        cases[("help", module)] = argv_of(module) + ["--help"]
    for driver in DRIVERS:
        cases[("help", driver)] = argv_of(driver) + ["--help"]
        cases[("bad", driver)] = argv_of(driver) + [f"--workdir={tmp / 'w'}", BAD_FLAG]
    cases[("renamed", "faceres-evaluate")] = argv_of("faceres-evaluate") + ["--restored", "a", "--gt", "b",
                                                                            "--out", "r.json"]
    cases[("renamed", "faceres-train")] = argv_of("faceres-train") + ["--workdir", str(tmp / "w"), "--noprogress"]
    # runs that load TensorFlow (quietly) before failing on their input
    (tmp / "empty").mkdir()
    prepare = argv_of("faceres-prepare") + ["-i", str(tmp / "empty"), "-o", str(tmp / "shards"),
                                            "--resolution", "16"]
    cases[("tf", "faceres-prepare")] = prepare
    cases[("verbose", "faceres-prepare")] = prepare + ["--verbose"]
    cases[("tf", "faceres-export")] = argv_of("faceres-export") + [
        f"--workdir={tmp / 'no_run'}", f"--output={tmp / 'export'}"]
    cases[("tf", "faceres-train")] = argv_of("faceres-train") + [
        "--preset", "test", "--workdir", str(tmp / "run"), "--data_dir", str(tmp / "no_run")]
    return cases


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return run_all(_cases(tmp_path_factory.mktemp("cli")))


def _one_error_line(proc) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert proc.stdout == ""
    return lines[0]


def test_every_console_script_is_checked():
    assert set(console_scripts()) <= set(ARGPARSE)
    assert set(MODULES.values()) <= set(ARGPARSE)
    assert "experiments.skip_ablation" in DRIVERS


def test_every_command_is_a_console_script_whose_target_imports():
    """pyproject lists every user-facing command; each target is a module of the
    package whose ``main`` exists, imports no TensorFlow (fast --help) and whose
    ``python -m`` name is checked above; no other module of the package is a command."""
    scripts = console_scripts()
    assert set(scripts) == COMMANDS
    targets = {}
    for name, target in scripts.items():
        module, function = target.split(":")
        assert module.startswith("faceres_tf.") and callable(getattr(importlib.import_module(module), function))
        targets[module] = name
    assert targets == {m: c for m, c in MODULES.items()}
    probe = "import sys, " + ", ".join(targets) + "; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, env=ENV)
    assert out.stdout.strip() == "False", out.stderr[-2000:]
    package = REPO / "faceres_tf"
    commands = {".".join(p.relative_to(REPO).with_suffix("").parts) for p in package.rglob("*.py")
                if 'if __name__ == "__main__"' in p.read_text()}
    assert commands == set(targets), commands ^ set(targets)


@pytest.mark.parametrize("cmd", sorted(ARGPARSE) + sorted(MODULES))
def test_argparse_help_lists_defaults_and_shared_flags(results, cmd):
    proc = results[("help", cmd)]
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr[-2000:]
    text = proc.stdout
    for flag in ARGPARSE[MODULES.get(cmd, cmd)][0]:
        assert flag in text, (cmd, flag)
    assert "shared options" in text


@pytest.mark.parametrize("cmd", sorted(ARGPARSE))
def test_argparse_help_shows_every_default(cmd):
    """Every optional flag that takes a value and has a default says so in --help."""
    import importlib

    module = importlib.import_module(console_scripts().get(cmd, cmd).split(":")[0])
    parser = module.build_parser()
    text = " ".join(parser.format_help().split())
    shown = [a for a in parser._actions if a.option_strings and a.nargs != 0 and not a.required
             and a.default is not None]
    for action in shown:
        assert f"(default: {action.default})" in text, (cmd, action.option_strings)
    # these two have only required flags, switches and defaults their help describes
    assert bool(shown) != (cmd in ("faceres-convert-lpips", "faceres-bundle"))


@pytest.mark.parametrize("driver", DRIVERS)
def test_absl_help_lists_defaults_and_shared_flags(results, driver):
    proc = results[("help", driver)]
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr[-2000:]
    text = proc.stdout
    assert "(default: " in text and "  --[no]verbose:" in text
    if "  --steps:" in text:  # a driver that trains shows a progress bar
        assert "  --[no]quiet:" in text
    assert "--[no]progress" not in text and "  --out:" not in text  # the old names are gone


@pytest.mark.parametrize("cmd", sorted(ARGPARSE) + DRIVERS)
def test_a_bad_flag_is_one_error_line_and_exit_2(results, cmd):
    line = _one_error_line(results[("bad", cmd)])
    assert "no_such_flag" in line and "--help" in line


def test_a_renamed_flag_names_its_new_name(results):
    assert "--out is now --output" in _one_error_line(results[("renamed", "faceres-evaluate")])
    assert "--noprogress is now --quiet" in _one_error_line(results[("renamed", "faceres-train")])


@pytest.mark.parametrize("cmd", ["faceres-prepare", "faceres-export", "faceres-train"])
def test_tensorflow_start_up_log_is_silenced(results, cmd):
    proc = results[("tf", cmd)]
    line = _one_error_line(proc)  # the input's error, and nothing from TensorFlow
    assert not TF_NOISE.search(proc.stderr), proc.stderr
    assert ("empty" if cmd == "faceres-prepare" else "no_run") in line, line  # names the input


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="TF's oneDNN note is x86 only")
def test_verbose_shows_the_tensorflow_log(results):
    proc = results[("verbose", "faceres-prepare")]
    lines = proc.stderr.splitlines()
    assert proc.returncode == 2 and lines[-1].startswith("error: ")
    assert TF_NOISE.search(proc.stderr), proc.stderr  # e.g. "oneDNN custom operations are on"
