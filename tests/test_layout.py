"""The package's layout: no import cycles between its modules, and modules of readable size.

Run as a script, it prints the import graph (every import of the package's own
modules, those inside functions included) and any cycle in it:

    python tests/test_layout.py
"""

import ast
import os
import sys

PACKAGE = "s2s_jax"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_LINES = 400


def modules() -> dict[str, str]:
    """Dotted module name -> path, for every module of the package."""
    found = {}
    for folder, _, files in os.walk(os.path.join(ROOT, PACKAGE)):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                dotted = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
                found[dotted.removesuffix(".__init__")] = path
    return found


def imports(path: str, known: set[str]) -> set[str]:
    """The package's modules that the module at `path` imports, anywhere in it."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            # `from a.b import c` needs the module a.b.c where there is one, else a.b's name c.
            subs = [f"{node.module}.{alias.name}" for alias in node.names]
            names = [sub if sub in known else node.module for sub in subs]
        else:
            continue
        found |= {name for name in names if name in known}
    return found


def graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports(path, set(found)) - {name} for name, path in sorted(found.items())}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The cycles a depth-first search meets, each as the path that closes it."""
    found, state = [], {}  # state: 1 on the current path, 2 done.

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                found.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in edges:
        if node not in state:
            visit(node, [node])
    return found


def test_the_import_graph_has_no_cycles():
    edges = graph()
    assert len(edges) > 30 and f"{PACKAGE}.model.recurrent" in edges[f"{PACKAGE}.model.config"]
    assert cycles(edges) == []


def test_a_cycle_is_found():
    """The check itself: a hand-made graph with one cycle."""
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(edges) == [["a", "b", "c", "a"]]


def test_modules_stay_readable():
    """No module of the package is longer than MAX_LINES lines."""
    long = {}
    for name, path in modules().items():
        with open(path, encoding="utf-8") as f:
            count = sum(1 for _ in f)
        if count > MAX_LINES:
            long[name] = count
    assert long == {}


if __name__ == "__main__":
    edges = graph()
    for name, targets in edges.items():
        print(f"{name} -> {', '.join(sorted(targets)) or '(none of the package)'}")
    found = cycles(edges)
    print("\n".join(" -> ".join(c) for c in found) or "no import cycles")
    sys.exit(1 if found else 0)
