"""benchmarks/ as a package run with ``python -m benchmarks.<name>``: no
``sys.path`` edits, every script reports through the one writer
(:func:`benchmarks.machine.emit`), TensorFlow's start-up log silenced."""

from __future__ import annotations

import ast
import json
import subprocess
import sys

import numpy as np
from commands import ENV, REPO, TF_NOISE

BENCHMARKS = REPO / "benchmarks"
SCRIPTS = sorted(p for p in BENCHMARKS.glob("*.py") if 'if __name__ == "__main__"' in p.read_text())


def _touches_sys_path(tree) -> bool:
    return any(isinstance(node, ast.Attribute) and node.attr == "path"
               and isinstance(node.value, ast.Name) and node.value.id == "sys" for node in ast.walk(tree))


def _calls(tree, name: str) -> bool:
    return any(isinstance(node, ast.Call) and (getattr(node.func, "id", None) == name
                                               or getattr(node.func, "attr", None) == name)
               for node in ast.walk(tree))


def test_benchmarks_is_a_package_without_sys_path_edits():
    assert (BENCHMARKS / "__init__.py").is_file()
    assert len(SCRIPTS) >= 10
    touched = [p.name for p in BENCHMARKS.glob("*.py") if _touches_sys_path(ast.parse(p.read_text()))]
    assert touched == []


def test_every_benchmark_reports_through_the_shared_writer():
    silent = [p.name for p in SCRIPTS if not _calls(ast.parse(p.read_text()), "emit")]
    assert silent == []
    for path in SCRIPTS:  # results are never written past the writer
        assert ".write_text(" not in path.read_text(), path.name


def test_emit_writes_json_lines_or_markdown(tmp_path, capsys):
    from benchmarks.machine import emit

    out = tmp_path / "r" / "x.md"
    emit([{"a": 1}, {"a": 2}], "# table", out, as_json=True)
    assert [json.loads(line) for line in capsys.readouterr().out.splitlines()] == [{"a": 1}, {"a": 2}]
    assert not out.exists()  # --json writes nothing
    emit([{"a": 1}], "# table", out, as_json=False)
    captured = capsys.readouterr()
    assert captured.out == "# table\n" and out.read_text() == "# table\n" and f"wrote {out}" in captured.err


def _metrics(path, losses: list):
    path.mkdir()
    rows = [{"step": 10 * (i + 1), "g_loss": g, "l1": g / 2, "d_loss": 1.0 + g, "g_adv": 0.5 * g}
            for i, g in enumerate(losses)]
    (path / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")


def test_a_benchmark_runs_as_a_module(tmp_path):
    """``python -m benchmarks.compare_runs`` from the repository root, quietly,
    its numbers through the writer (here the means of two synthetic runs)."""
    a, b = [1.0, 2.0, 3.0, 4.0], [1.5, 2.5, 3.5, 4.5]
    _metrics(tmp_path / "a", a)
    _metrics(tmp_path / "b", b)
    proc = subprocess.run([sys.executable, "-m", "benchmarks.compare_runs", str(tmp_path / "a"),
                           str(tmp_path / "b"), "--window", "2", "--json"],
                          cwd=REPO, env=ENV, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not TF_NOISE.search(proc.stderr), proc.stderr
    rows = {r["loss"]: r for r in map(json.loads, proc.stdout.splitlines())}
    assert set(rows) == {"g_loss", "l1", "d_loss", "g_adv"}
    assert np.isclose(rows["g_loss"]["mean_a"], np.mean(a)) and np.isclose(rows["g_loss"]["mean_b"], np.mean(b))
    # windows of 2: (1.5, 3.5) vs (2, 4) -> the largest relative difference is 0.5 / 1.5
    assert np.isclose(rows["g_loss"]["max_window_rel_diff_b"], 0.5 / 1.5)
