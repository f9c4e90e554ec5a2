"""docs/method.md exists and every `method.md §N` / `method.md section N`
cited anywhere in the repository names one of its sections, on the topic the
citing code expects."""

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
METHOD = REPO / "docs" / "method.md"
CITATION = re.compile(r"method\.md`{0,2}\s*(?:§|section\s+)(\d+)")
SKIP_DIRS = {".git", ".venv", "runs", "build", "dist", "__pycache__", ".pytest_cache"}
# sections whose topic the code relies on: number -> words its heading must contain
TOPICS = {4: "Training", 5: "Degradations", 6: "Metrics", 7: "Evaluation protocol",
          8: "whole photos", 9: "Presets"}


def _sections() -> dict:
    return {int(m.group(1)): m.group(2)
            for m in re.finditer(r"^## (\d+)\. (.+)$", METHOD.read_text(), re.M)}


def _citations() -> dict:
    found = {}
    for path in REPO.rglob("*"):
        if SKIP_DIRS & set(path.relative_to(REPO).parts) or not path.is_file():
            continue
        if path.suffix not in (".py", ".md", ".txt", ".cfg", ".toml", ".ini") or path == METHOD:
            continue
        for m in CITATION.finditer(path.read_text(errors="ignore")):
            found.setdefault(int(m.group(1)), []).append(str(path.relative_to(REPO)))
    return found


def test_method_md_sections_are_numbered_in_order():
    numbers = list(_sections())
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) >= 9


def test_every_cited_section_exists():
    sections, cited = _sections(), _citations()
    assert {5, 6, 8} <= set(cited), cited  # the citations that existed before the file
    missing = {n: files for n, files in cited.items() if n not in sections}
    assert missing == {}


def test_sections_carry_the_topics_the_code_cites():
    sections = _sections()
    for number, words in TOPICS.items():
        assert words.lower() in sections[number].lower(), (number, sections[number])


def test_setup_py_is_a_shim_over_pyproject():
    """The standard ``setup.py`` exists and holds no metadata of its
    own (``pyproject.toml`` is the single source)."""
    import ast

    tree = ast.parse((REPO / "setup.py").read_text())
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    assert len(calls) == 1 and ast.unparse(calls[0]) == "setup()"
    assert 'name = "faceres_tf"' in (REPO / "pyproject.toml").read_text()


def _cited_repo_paths():
    """Repository paths (experiments/results/..., benchmarks/results/...) that the
    README, docs/ and the results READMEs cite."""
    root = REPO
    docs = [root / "README.md", *sorted((root / "docs").glob("*.md")),
            *sorted((root / "experiments" / "results").glob("*/README.md"))]
    pattern = re.compile(r"(?:experiments|benchmarks)/results/[\w./-]*[\w/]")
    for doc in docs:
        for path in pattern.findall(doc.read_text(encoding="utf-8")):
            yield doc.relative_to(root), path


def test_cited_results_are_in_the_repository():
    """A results path the docs cite must exist in a clean clone (CI runs on one):
    results ignored by git would pass on the machine that wrote them and nowhere else."""
    root = REPO
    try:
        tracked = subprocess.run(["git", "ls-files", "experiments/results", "benchmarks/results"], cwd=root,
                                 capture_output=True, text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    missing = [(str(doc), path) for doc, path in _cited_repo_paths()
               if not any(t.startswith(path) for t in tracked)]  # a cited prefix (quality_grid*) counts
    assert not missing, f"cited but not tracked by git: {missing}"
