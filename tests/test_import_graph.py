"""The package's imports run one way: no module imports, directly or through
others, a module that imports it back. Imports inside functions count too (a
lazy import that dodges a cycle at import time is still a cycle of design).

Edges are the explicit imports of each module (``import a.b``, ``from a import
b`` where ``b`` is a submodule, ``from a.b import name``), not the parent
packages Python initialises on the way.
"""

import ast

import pytest

from conftest import REPO_ROOT

PACKAGE = "keras_applications_bn"
ROOT = REPO_ROOT / PACKAGE


def _module_name(path):
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _imports(name, path):
    """The package modules ``name`` imports."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            # `from pkg import sub` imports the submodule pkg.sub
            targets = [
                f"{module}.{alias.name}" if f"{module}.{alias.name}" in MODULES else module
                for alias in node.names
            ]
        else:
            continue
        found.update(t for t in targets if t in MODULES and t != name)
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _cycle():
    """One import cycle as a list of modules, or None."""
    state = {}  # 1: on the stack, 2: done
    stack = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(GRAPH[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(GRAPH):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_graph_sees_the_package():
    assert len(MODULES) > 30
    assert f"{PACKAGE}._models.builder" in GRAPH[f"{PACKAGE}.resnet"]
    assert f"{PACKAGE}.weights.registry" in GRAPH[f"{PACKAGE}._models.builder"]


def test_no_import_cycles():
    cycle = _cycle()
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_cycle(monkeypatch):
    monkeypatch.setitem(GRAPH, f"{PACKAGE}.weights.registry", {f"{PACKAGE}._models.builder"})
    assert _cycle() is not None


@pytest.mark.parametrize("module", ["imagenet_utils", "legacy", "layers"])
def test_keras_surface_modules_do_not_import_the_model_builders(module):
    """imagenet_utils, legacy and layers are what Keras' modules of those names
    are: they import no family module, no builder and no tool."""
    allowed = {
        f"{PACKAGE}.legacy",
        f"{PACKAGE}.weights",
        f"{PACKAGE}._models.checks",
        f"{PACKAGE}._models.tf_keras",
        f"{PACKAGE}._models.registration",
    }

    def reach(name, seen):
        for nxt in GRAPH[name]:
            if nxt not in seen:
                seen.add(nxt)
                reach(nxt, seen)
        return seen

    reached = reach(f"{PACKAGE}.{module}", set())
    outside = {m for m in reached if m not in allowed and not m.startswith(f"{PACKAGE}.weights.")}
    assert not outside, f"{module} imports {sorted(outside)}"


def test_only_the_internals_shim_imports_keras_src():
    users = sorted(
        name
        for name, path in MODULES.items()
        if any(
            (isinstance(n, ast.ImportFrom) and (n.module or "").startswith("keras.src"))
            or (isinstance(n, ast.Import) and any(a.name.startswith("keras.src") for a in n.names))
            or (
                isinstance(n, ast.Constant)
                and isinstance(n.value, str)
                and n.value.startswith("keras.src.")
            )
            for n in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        )
    )
    assert users == [f"{PACKAGE}._models.keras_internals"]


def _private_names_reached(name, path):
    """The private names of other package modules that module ``name`` uses:
    ``from pkg.mod import _x``, or ``mod._x`` on a package module it imported."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    modules, reached = {}, []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and not node.level and node.module in MODULES:
            for alias in node.names:
                if f"{node.module}.{alias.name}" in MODULES:
                    modules[alias.asname or alias.name] = f"{node.module}.{alias.name}"
                elif alias.name.startswith("_") and node.module != name:
                    reached.append(f"from {node.module} import {alias.name}")
        elif isinstance(node, ast.Import):
            modules.update({a.asname: a.name for a in node.names if a.asname and a.name in MODULES})
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in modules
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            reached.append(f"{node.value.id}.{node.attr}")
    return reached


def test_the_weights_modules_and_the_cli_share_only_public_names():
    """Each module of ``weights/`` (and the command line's entry point) uses only
    the names of the others that have no leading underscore: what one module
    needs of another is that module's public surface."""
    checked = [
        n for n in MODULES if n.startswith(f"{PACKAGE}.weights") or n == f"{PACKAGE}.__main__"
    ]
    assert len(checked) >= 8
    reached = {n: _private_names_reached(n, MODULES[n]) for n in checked}
    assert {n: r for n, r in reached.items() if r} == {}


def _shim_attributes():
    """The private Keras attributes the shim reads (the names it passes to its
    ``_attribute`` helper, or assigns on a Keras object)."""
    tree = ast.parse(MODULES[f"{PACKAGE}._models.keras_internals"].read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "_attribute":
            names.update(
                arg.value
                for arg in node.args
                if isinstance(arg, ast.Constant)
                and isinstance(arg.value, str)
                and arg.value.startswith("_")
            )
    return names


def test_private_keras_attributes_are_read_only_through_the_shim():
    private = _shim_attributes()
    assert {"_flatten_layers", "_nodes_by_depth", "_var_key", "_variables"} <= private
    readers = sorted(
        f"{name}: {node.attr}"
        for name, path in MODULES.items()
        if name != f"{PACKAGE}._models.keras_internals"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Attribute) and node.attr in private
    )
    assert not readers, readers
