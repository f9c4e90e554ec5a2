"""The shape of the package, read from its source with ``ast`` (nothing is imported).

* The import graph of ``faceres_tf/`` (module-level and deferred imports
  alike; ``if TYPE_CHECKING:`` blocks excepted) has no cycle.
* Every import runs down the layer order of docs/code.md ("Layers"): a module
  imports only modules of its own layer or of layers below it.
* The package imports nothing from ``experiments/``, ``benchmarks/`` or ``tests/``.
* No source file in ``faceres_tf/`` has more than 400 lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "faceres_tf"
MAX_LINES = 400

# Bottom to top; a module belongs to the layer of its longest matching prefix.
# Keep in sync with docs/code.md, section "Layers".
LAYERS = (
    ("foundation", ("faceres_tf.errors", "faceres_tf.seeds", "faceres_tf.config_ranges", "faceres_tf.config",
                    "faceres_tf.presets", "faceres_tf.weights", "faceres_tf.image_io", "faceres_tf.cli",
                    "faceres_tf.run_config")),
    ("layers", ("faceres_tf.layers",)),
    ("models", ("faceres_tf.models",)),
    ("losses, metrics, augmentation, bundled models", ("faceres_tf.losses", "faceres_tf.metrics",
                                                       "faceres_tf.augment", "faceres_tf.pretrained")),
    ("data", ("faceres_tf.data",)),
    ("training", ("faceres_tf.training",)),
    ("export", ("faceres_tf.export", "faceres_tf.export_tflite", "faceres_tf.export_common")),
    ("face", ("faceres_tf.face",)),
    ("commands", ("faceres_tf.api", "faceres_tf.restore", "faceres_tf.evaluate", "faceres_tf.evaluate_inputs",
                  "faceres_tf.evaluate_metrics", "faceres_tf.evaluate_report", "faceres_tf.data.prepare",
                  "faceres_tf.train", "faceres_tf.export_cli", "faceres_tf.metrics.convert_lpips_weights",
                  "faceres_tf.pretrained.bundle")),
    ("package", ("faceres_tf",)),
)

# Edges tolerated for now, each with the reason. An entry whose edge no longer
# exists fails test_allowed_edges_still_exist: delete it then.
ALLOWED_EDGES: dict = {}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _type_checking_nodes(tree: ast.AST) -> set:
    """ids of the nodes inside ``if TYPE_CHECKING:`` blocks (annotations only)."""
    inside = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            inside.update(id(n) for child in node.body for n in ast.walk(child))
    return inside


def _resolve(name: str) -> str | None:
    """The module of ``faceres_tf`` that ``name`` (a module or a name in one) refers to."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imported_names(path: Path, package: str) -> set:
    """Every dotted name ``path`` imports, at module level or inside functions."""
    tree = ast.parse(path.read_text(), filename=str(path))
    skip = _type_checking_nodes(tree)
    names = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names.update(f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names)
    return names


def import_graph() -> dict:
    """{module: set of faceres_tf modules it imports}."""
    graph = {}
    for name, path in MODULES.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = {_resolve(n) for n in imported_names(path, package) if n.split(".")[0] == "faceres_tf"}
        graph[name] = {t for t in targets if t and t != name}
    return graph


GRAPH = import_graph()


def layer_of(module: str) -> int:
    best, rank = -1, None
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), i
    assert rank is not None, f"{module} belongs to no layer: add it to LAYERS and docs/code.md"
    return rank


def find_cycle(graph: dict) -> list | None:
    """One cycle as [a, b, ..., a], or None (depth-first search)."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_graph_sees_top_level_and_deferred_imports():
    # faceres_tf/__init__ imports presets at the top and the networks on first use
    assert {"faceres_tf.presets", "faceres_tf.models"} <= GRAPH["faceres_tf"]
    assert "faceres_tf.errors" in GRAPH["faceres_tf.cli"]
    assert "faceres_tf.face.generator_runner" in GRAPH["faceres_tf.restore"]  # inside a function


def test_a_module_takes_the_layer_of_its_longest_prefix():
    assert layer_of("faceres_tf.data.prepare") > layer_of("faceres_tf.data.faces")
    assert layer_of("faceres_tf.data.faces") > layer_of("faceres_tf.models.generator")
    assert layer_of("faceres_tf.config_ranges") == layer_of("faceres_tf.cli") == 0


def test_find_cycle_finds_a_cycle_and_only_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle():
    graph = {a: {b for b in targets if (a, b) not in ALLOWED_EDGES} for a, targets in GRAPH.items()}
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_every_module_has_a_layer():
    for module in MODULES:
        layer_of(module)


def test_imports_run_down_the_layers():
    upward = [f"{a} ({LAYERS[layer_of(a)][0]}) imports {b} ({LAYERS[layer_of(b)][0]})"
              for a, targets in sorted(GRAPH.items()) for b in sorted(targets)
              if layer_of(b) > layer_of(a) and (a, b) not in ALLOWED_EDGES]
    assert not upward, "imports running back up the layer order of docs/code.md:\n" + "\n".join(upward)


def test_allowed_edges_still_exist():
    stale = [f"{a} -> {b}" for a, b in sorted(ALLOWED_EDGES) if b not in GRAPH.get(a, ())]
    assert not stale, f"these imports are gone; delete them from ALLOWED_EDGES: {stale}"


def test_package_imports_no_checkout_folder():
    bad = [f"{name}: {n}" for name, path in MODULES.items()
           for n in imported_names(path, name) if n.split(".")[0] in ("experiments", "benchmarks", "tests")]
    assert not bad, bad


def test_layer_order_is_documented():
    text = (REPO / "docs" / "code.md").read_text()
    section = text.split("## Layers", 1)[1].split("\n## ", 1)[0]
    positions = [section.find(f"**{name}**") for name, _ in LAYERS]
    assert -1 not in positions, f"docs/code.md, Layers: name each of {[n for n, _ in LAYERS]} in bold"
    assert positions == sorted(positions), "docs/code.md lists the layers in another order than LAYERS"


def test_no_source_file_exceeds_the_line_limit():
    long = {str(p.relative_to(REPO)): n for p in sorted(PACKAGE.rglob("*.py"))
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"files over {MAX_LINES} lines (split them): {long}"
