"""The package's import graph: no cycles, and the benchmark imported by nothing in the library.

The graph is read from the source with ``ast``, every import statement counted wherever it
stands (module level, inside a function, under ``if TYPE_CHECKING``): a function-level
import hides a cycle from Python's import machinery, not from the layering.
"""
import ast
from pathlib import Path
from typing import Dict, List, Optional, Set

import pytest

import paddlecnn

ROOT = Path(paddlecnn.__file__).resolve().parent
PACKAGE = ROOT.name
BENCH = f"{PACKAGE}.bench"
MAY_IMPORT_BENCH = (f"{PACKAGE}.cli", BENCH)       # the command on top, and the benchmark itself


def module_names(root: Path = ROOT) -> Dict[str, Path]:
    """Dotted name -> file for every module of the package (``a/__init__.py`` is ``pkg.a``)."""
    names = {}
    for path in sorted(root.rglob("*.py")):
        parts = (root.name,) + path.relative_to(root).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def _is_package(name: str, modules: Dict[str, Path]) -> bool:
    return modules[name].name == "__init__.py"


def _resolve(module: str, level: int, target: Optional[str], modules: Dict[str, Path]) -> str:
    """The absolute name ``from <level dots><target> import ...`` means inside ``module``."""
    if level == 0:
        return target or ""
    base = module.split(".")
    if not _is_package(module, modules):
        base = base[:-1]                              # a plain module's dots count from its package
    base = base[:len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def _known(name: str, modules: Dict[str, Path]) -> Optional[str]:
    """The longest prefix of ``name`` that is one of the package's modules, or None (outside)."""
    parts = name.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in modules:
            return ".".join(parts[:n])
    return None


def imports_of(module: str, modules: Dict[str, Path]) -> Set[str]:
    """The package's modules that ``module`` imports anywhere in its file."""
    found = set()
    for node in ast.walk(ast.parse(modules[module].read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {_known(alias.name, modules) for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(module, node.level, node.module, modules)
            # ``from pkg import sub`` imports pkg.sub; ``from pkg import name`` needs pkg's __init__.
            wanted = [f"{source}.{alias.name}" for alias in node.names]
            subs = {name for name in wanted if name in modules}
            found |= subs
            if len(subs) < len(wanted):
                found.add(_known(source, modules))
    found.discard(None)
    found.discard(module)
    return found


def import_graph(root: Path = ROOT) -> Dict[str, Set[str]]:
    modules = module_names(root)
    return {m: imports_of(m, modules) for m in modules}


def cycle_groups(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """The strongly connected groups of two or more modules (Tarjan): each module of a group
    reaches every other one, so each group holds at least one cycle."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    groups: List[List[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(groups)


def cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """One shortest cycle ``[a, b, ..., a]`` per group of :func:`cycle_groups`."""
    return [_shortest_cycle(graph, g) for g in cycle_groups(graph)]


def _shortest_cycle(graph: Dict[str, Set[str]], group: List[str]) -> List[str]:
    """Breadth-first from the group's first module back to itself, inside the group."""
    start, inside = group[0], set(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & inside):
                if w == start:
                    return paths[v] + [start]
                if w not in paths:
                    paths[w] = paths[v] + [w]
                    nxt.append(w)
        frontier = nxt
    raise AssertionError(f"no cycle through {start}")  # pragma: no cover - Tarjan gave a group


def test_the_graph_reader_sees_every_kind_of_import(tmp_path):
    """A made-up package: relative, absolute, function-level, ``from pkg import sub`` and a cycle."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from .a import f\n")
    (pkg / "a.py").write_text("import os\n\ndef f():\n    from .sub import b\n    return b\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "b.py").write_text("from ..c import g\nimport pkg.sub.d\n")
    (pkg / "sub" / "d.py").write_text("from pkg import a\n")
    (pkg / "c.py").write_text("x = 1\n")
    graph = import_graph(pkg)
    assert graph == {"pkg": {"pkg.a"}, "pkg.a": {"pkg.sub.b"}, "pkg.sub": set(),
                     "pkg.sub.b": {"pkg.c", "pkg.sub.d"}, "pkg.sub.d": {"pkg.a"}, "pkg.c": set()}
    assert cycles(graph) == [["pkg.a", "pkg.sub.b", "pkg.sub.d", "pkg.a"]]
    (pkg / "sub" / "d.py").write_text("from pkg.c import x\n")
    assert cycles(import_graph(pkg)) == []


def test_the_package_has_no_import_cycles():
    graph = import_graph()
    found = [f"{' -> '.join(_shortest_cycle(graph, g))} (modules in the circle: {', '.join(g)})"
             for g in cycle_groups(graph)]
    assert not found, "import cycles: " + "; ".join(found)


def test_nothing_in_the_library_imports_the_benchmark():
    graph = import_graph()
    assert BENCH in graph and f"{PACKAGE}.accel.fastconv" in graph       # the layout this test guards
    offenders = sorted(m for m, deps in graph.items() if not m.startswith(MAY_IMPORT_BENCH)
                       for d in deps if d == BENCH or d.startswith(BENCH + "."))
    assert not offenders, f"import paddlecnn.bench only from the CLI: {offenders}"
    assert any(d.startswith(BENCH) for d in graph[f"{PACKAGE}.cli.bench"])


@pytest.mark.parametrize("module", [f"{PACKAGE}.models", f"{PACKAGE}.data", f"{PACKAGE}.accel"])
def test_the_bottom_layers_import_nothing_above_them(module):
    """models, data and accel stand side by side on paddle and the package's leaf helpers only
    (errors, paths, runtime, arithmetic and io, the one atomic writer and safe reader)."""
    graph = import_graph()
    leaves = {f"{PACKAGE}.{m}" for m in ("errors", "paths", "runtime", "arithmetic", "io")}
    inside = lambda name: name == module or name.startswith(module + ".")  # noqa: E731
    above = sorted(f"{m} -> {d}" for m, deps in graph.items() if inside(m)
                   for d in deps if d not in leaves and not inside(d))
    assert not above, above
