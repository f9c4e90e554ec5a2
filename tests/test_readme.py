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

import pytest
from commands import REPO, argv_of, console_scripts, run_all

DOCS = [REPO / "README.md", REPO / "experiments" / "README.md"]
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
    assert {"make", "faceres-restore", "faceres-evaluate", "faceres-prepare", "experiments.train",
            "experiments.export", "faceres_tf.restore"} <= set(COMMANDS), sorted(COMMANDS)
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
