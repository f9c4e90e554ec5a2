"""The experiments/ drivers as command-line tools, and the layout rules of
experiments/: --help lists each driver's own flags and exits 0;
a user error is one line on stderr, exit status 2, nothing created; each flag
is defined once; no driver imports another; small files and functions."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXPERIMENTS = REPO / "experiments"
ENV = dict(os.environ, PYTHONPATH=str(REPO))
DRIVERS = {
    "skip_ablation": ["--skips", "--num_noise_seeds", "--num_eval_faces", "--preset", "--k"],
    "noise_diversity": ["--skips", "--num_noise_seeds", "--eval_dir", "--workdir"],
    "adv_augmentation": ["--num_noise_seeds", "--num_seeds", "--metrics", "--set"],
    "alpha_sweep": ["--alphas", "--num_noise_seeds", "--steps"],
    "bfr_comparison": ["--run_dir", "--method", "--lq_dir", "--num_noise_seeds"],
    "model_quality": ["--model", "--chains", "--eval_resolution", "--lq_dirs", "--overwrite",
                      "--workdir", "--quiet"],
}


def _cli(module, *args, cwd=REPO, timeout=240):
    return subprocess.run([sys.executable, "-m", f"experiments.{module}", *args], cwd=cwd,
                          env=ENV, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("module", sorted(DRIVERS))
def test_help_lists_own_flags_with_defaults_and_exits_0(module):
    proc = _cli(module, "--help")
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    for flag in DRIVERS[module]:
        assert any(f"{lead}{flag}:" in out for lead in ("  ", ",")) or \
            f"  --[no]{flag[2:]}:" in out, (module, flag)
    assert "(default:" in out
    assert "--helpfull" not in out and "absl" not in out.lower()  # only the driver's own flags
    assert proc.stderr == ""


def _assert_user_error(proc, must_contain, created=()):
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert must_contain in lines[0]
    for path in created:
        assert not Path(path).exists(), f"{path} was created by a failing command"


def test_user_errors_are_one_line_exit_2_and_create_nothing(tmp_path):
    w = tmp_path / "w"
    _assert_user_error(_cli("skip_ablation", f"--workdir={w}", "--bogus_flag"), "bogus_flag", [w])
    _assert_user_error(_cli("skip_ablation", f"--workdir={w}", "--preset=test",
                            "--set=model.num_skips=x"), "model.num_skips: expected an integer", [w])


def test_user_errors_in_process_create_nothing(tmp_path):
    """The same checks without a subprocess each (they raise UserError, which
    cli.run_experiment prints as one line with exit status 2)."""
    from experiments import alpha_sweep, bfr_comparison, cli, options
    from faceres_tf import run_config

    w = tmp_path / "w"
    cases = [
        lambda: run_config.resolve_config("nope", []),
        lambda: run_config.resolve_config("test", ["model.num_skips"]),
        lambda: options.check_options(options.ExpOptions(workdir=str(w), k=0)),
        lambda: options.int_list(["1", "a"], "skips"),
        lambda: bfr_comparison.parse_methods([f"x={tmp_path / 'nope'}"]),
        lambda: alpha_sweep.run_experiment(options.ExpOptions(workdir=str(w)), (0.1, -1.0)),
        lambda: run_config.check_perceptual_weights(run_config.resolve_config(
            "test", [], perceptual="vgg19", vgg_weights=str(tmp_path / "no.h5"))),
    ]
    for case in cases:
        with pytest.raises(cli.UserError):
            case()
        assert cli.run_experiment(case) == 2
    assert not w.exists()


# ----------------------------------------------------------------------------- layout rules
def _modules():
    return {p.stem: ast.parse(p.read_text()) for p in sorted(EXPERIMENTS.glob("*.py"))}


def _is_driver(tree) -> bool:
    return any(isinstance(n, ast.If) and "__main__" in ast.dump(n.test) for n in tree.body)


def test_each_flag_is_defined_once():
    seen = {}
    for name, tree in _modules().items():
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr.startswith("DEFINE_") and node.args
                    and isinstance(node.args[0], ast.Constant)):
                seen.setdefault(node.args[0].value, []).append(name)
    assert seen, "no flag definitions found"
    assert {f: m for f, m in seen.items() if len(m) > 1} == {}


def test_no_driver_imports_another_driver():
    modules = _modules()
    drivers = {n for n, t in modules.items() if _is_driver(t)}
    assert {"skip_ablation", "noise_diversity"} <= drivers
    assert not {"train", "export"} & drivers  # installed commands now: faceres-train, faceres-export
    for name in drivers:
        imported = set()
        for node in ast.walk(modules[name]):
            if isinstance(node, ast.ImportFrom) and node.module:
                parts = node.module.split(".")
                if parts[0] == "experiments":
                    imported |= {parts[1]} if len(parts) > 1 else {a.name for a in node.names}
            elif isinstance(node, ast.Import):
                imported |= {a.name.split(".")[1] for a in node.names
                             if a.name.startswith("experiments.")}
        assert not imported & drivers, (name, imported & drivers)


def test_files_and_functions_stay_small():
    for path in sorted(EXPERIMENTS.glob("*.py")):
        text = path.read_text()
        assert len(text.splitlines()) <= 400, path.name
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                assert node.end_lineno - node.lineno < 60, (path.name, node.name)


def test_no_private_attributes_of_other_objects():
    for name, tree in _modules().items():
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_")
                    and not node.attr.startswith("__")):
                owner = node.value.id if isinstance(node.value, ast.Name) else ""
                assert owner in ("self", "cls"), (name, owner, node.attr, node.lineno)
