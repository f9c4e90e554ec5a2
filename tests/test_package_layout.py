"""The package's layout: its modules import each other without a circle
(deferred imports inside functions count; ``if TYPE_CHECKING:`` ones do not),
and the wheel holds only the library and its commands (repository maintenance
lives in tools/, run from a checkout)."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "faceres_tf"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _owner(name: str) -> str | None:
    """The package module ``name`` lives in (``a.b.func`` -> ``a.b``)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _type_checking_nodes(tree) -> set:
    """Import nodes inside ``if TYPE_CHECKING:`` (annotations only, never run)."""
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.dump(node.test):
            skipped |= {id(n) for n in ast.walk(node)}
    return skipped


def _imports(path: Path) -> set:
    tree = ast.parse(path.read_text())
    skipped, found = _type_checking_nodes(tree), set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:  # `from pkg import submodule` imports the submodule
                found.add(_owner(f"{node.module}.{alias.name}") or _owner(node.module))
        elif isinstance(node, ast.Import):
            found |= {_owner(alias.name) for alias in node.names}
    return found - {None}


def import_graph() -> dict:
    return {name: _imports(path) - {name} for name, path in MODULES.items()}


def circles(graph: dict) -> list:
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_circles_are_found():
    """The detector itself: a two-module circle and a self-contained chain."""
    assert circles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_the_package_imports_form_no_circle():
    graph = import_graph()
    assert "faceres_tf.export_common" in graph["faceres_tf.export_tflite"]  # the graph sees imports
    assert circles(graph) == []


def test_each_export_name_has_one_home():
    """export.py does not re-export the TFLite writer's names, and the TFLite
    writer does not reach back into export.py."""
    import faceres_tf.export as export

    for name in ("export_tflite", "noise_for_seeds", "tflite_bytes", "saved_model_dir", "EXPORT_MARKER"):
        assert name not in export.__all__
    assert "faceres_tf.export" not in import_graph()["faceres_tf.export_tflite"]


def test_maintenance_scripts_are_not_in_the_package():
    assert not (PACKAGE / "data" / "make_samples.py").exists()
    assert (REPO / "tools" / "make_samples.py").is_file()
    for path in MODULES.values():  # nothing in the wheel refers to the moved script by its old name
        assert "faceres_tf.data.make_samples" not in path.read_text(), path
