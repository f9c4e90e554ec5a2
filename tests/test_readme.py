"""The commands in README.md (and experiments/README.md) exist and take the flags shown.

Every command line of a shell code block, and every inline code span that
starts a command, is parsed: for ``python -m MODULE`` and ``faceres-*``
(pyproject's console scripts) its ``--help`` must exit 0 and list every flag
the line uses (so renaming a flag without updating the README fails here);
for ``make TARGET`` the target must exist (``make -n``). Links to sections
(``](#anchor)``) must name a heading.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys

import pytest
from commands import REPO, argv_of, console_scripts, run_all

DOCS = [REPO / "README.md", REPO / "experiments" / "README.md", *sorted((REPO / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```(?:bash|sh|shell|console)\n(.*?)^```", re.M | re.S)
INLINE = re.compile(r"`((?:\.venv/bin/)?(?:python -m |faceres-|make )[^`]*)`")


def _shell_lines(text: str) -> list:
    """Command lines of the shell blocks, continuation lines joined, comments dropped."""
    lines = []
    for block in BLOCK.findall(text):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            if line and not line.startswith("#"):
                lines.append(line)
    return lines


def _parse(line: str):
    """(command, flags) of a command line, or None when it is not one of ours.
    command: a module for ``python -m``, a console-script name, or ``make``."""
    words = shlex.split(line.replace("[", " ").replace("]", " "))
    while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):  # VAR=value prefixes
        words.pop(0)
    if not words:
        return None
    exe = words[0].removeprefix(".venv/bin/")
    if exe == "python" and words[1:2] == ["-m"]:
        command, rest = words[2], words[3:]
    elif exe.startswith("faceres-") or exe == "make":
        command, rest = exe, words[1:]
    else:
        return None
    if not re.fullmatch(r"[a-z][\w.-]*[a-z0-9]", command):  # "python -m ...", "faceres-*" in prose
        return None
    if command == "make":
        return "make", [w for w in rest if "=" not in w]  # targets (VAR=value dropped)
    flags = sorted({w.split("=")[0] for w in rest if re.match(r"--?[a-z]", w)})
    return command, flags


def _commands() -> dict:
    """command -> {flag: the README line using it} over both documents."""
    found: dict = {}
    for doc in DOCS:
        text = doc.read_text()
        variables = {}  # COMMON="--preset=... --data_dir=..." used later as $COMMON
        for line in _shell_lines(text) + INLINE.findall(text):
            assignment = re.fullmatch(r"([A-Z_]+)=(\S.*)", line)
            if assignment:
                variables[assignment.group(1)] = " ".join(shlex.split(assignment.group(2)))
            for name, value in variables.items():
                line = line.replace(f"${name}", value)
            parsed = _parse(line)
            if parsed:
                command, flags = parsed
                found.setdefault(command, {}).update({f: f"{doc.name}: {line}" for f in flags})
    return found


COMMANDS = _commands()
PROGRAMS = sorted(c for c in COMMANDS if c != "make")


def test_the_readme_shows_every_kind_of_command():
    assert {"make", "faceres-restore", "faceres-evaluate", "faceres-prepare", "faceres-train",
            "faceres-export", "faceres_tf.restore"} <= set(COMMANDS), sorted(COMMANDS)
    assert {"train", "test"} <= set(COMMANDS["make"])


@pytest.fixture(scope="module")
def helps():
    return run_all({c: argv_of(c) + ["--help"] for c in PROGRAMS})


@pytest.mark.parametrize("command", PROGRAMS)
def test_command_help_exits_0_and_lists_every_flag_the_readme_uses(helps, command):
    if command.startswith("faceres-"):
        assert command in console_scripts(), f"{command} is not a console script of pyproject.toml"
    proc = helps[command]
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = proc.stdout
    for flag, line in COMMANDS[command].items():
        bare = flag.lstrip("-")
        names = [flag, f"--[no]{bare}", f"--[no]{bare[2:]}" if bare.startswith("no") else flag]
        assert any(re.search(re.escape(n) + r"(?![\w-])", text) for n in names), \
            f"{flag} is not a flag of {command} (README line: {line})"


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_targets_exist():
    for target in sorted(set(COMMANDS["make"])):
        proc = subprocess.run(["make", "-n", target], cwd=REPO, capture_output=True, text=True)
        assert proc.returncode == 0 and "No rule" not in proc.stderr, (target, proc.stderr)


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces -> '-'."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.parent.name + "/" + p.name)
def test_section_links_name_a_heading(doc):
    text = doc.read_text()
    code_free = BLOCK.sub("", text)
    anchors = {_anchor(h) for h in re.findall(r"^#+ (.+)$", code_free, re.M)}
    for link in re.findall(r"\]\(#([^)]+)\)", text):
        assert link in anchors, f"{doc.name}: no heading for #{link}"


# ---------------------------------------------------------------- end to end
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.M | re.S)


def _quick_restore_lines() -> list:
    """README restore lines that need nothing but the checkout (the bundled
    model and data/): no --checkpoint / --saved_model (those need a run)."""
    lines = []
    for line in _shell_lines((REPO / "README.md").read_text()):
        words = shlex.split(line)
        if (words and words[0].removeprefix(".venv/bin/") == "faceres-restore"
                and not {"--checkpoint", "--saved_model"} & set(words)):
            lines.append(words)
    return lines


def _to_tmp(words: list, tmp) -> list:
    """The command's argv with its output folder moved under ``tmp``."""
    out = list(words[1:])
    for i, w in enumerate(out[:-1]):
        if w in ("-o", "--output"):
            out[i + 1] = str(tmp / out[i + 1])
    return out


def test_quick_readme_commands_run_as_printed(tmp_path):
    """The README's restore lines on the bundled photos and its Python example
    run end to end (outputs moved under a temporary folder)."""
    lines = _quick_restore_lines()
    assert len(lines) >= 2, "the README shows the bundled-photo restore commands"
    example = next(b for b in PYTHON_BLOCK.findall((REPO / "README.md").read_text()) if "restore_image" in b)
    work = tmp_path / "python"
    work.mkdir()
    (work / "data").symlink_to(REPO / "data")
    (work / "example.py").write_text(f"import os\nos.chdir({str(work)!r})\n" + example
                                     + "\nprint(restored.shape, better.shape)\n")
    argvs = {i: argv_of("faceres-restore") + _to_tmp(w, tmp_path) + ["--quiet"] for i, w in enumerate(lines)}
    argvs["python"] = [sys.executable, str(work / "example.py")]
    procs = run_all(argvs, workers=2, timeout=600)
    for key, words in enumerate(lines):
        proc = procs[key]
        assert proc.returncode == 0 and "0 failed" in proc.stdout, (words, proc.stdout, proc.stderr[-2000:])
        out = tmp_path / words[words.index("-o") + 1]
        assert len(list((out / "restored_imgs").iterdir())) == 3, words
    proc = procs["python"]
    assert proc.returncode == 0 and (work / "results" / "api" / "restored.png").is_file(), proc.stderr[-2000:]
    assert proc.stderr.strip() == "", proc.stderr  # quiet: no TensorFlow start-up lines
