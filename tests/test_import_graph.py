"""The modules of cnncost import each other without a cycle, function-level imports included.

Every module's source is parsed (ast), every ``import`` and ``from ... import`` anywhere in it (module level,
inside functions, under ``if TYPE_CHECKING``) becomes an edge, with relative imports resolved against the
module's package, and ``from package import name`` counted as an import of the submodule where ``name`` is
one; so does a string that names a module for importlib ("cnncost.render.text:LayerTable"). A cycle hidden
in a function-level import is still a cycle: the two modules cannot be understood, tested or moved apart.
Importing ``a.b`` also runs ``a/__init__.py``; that implicit edge is not counted (every module would then
import the package root), as import linters do.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "cnncost"
# a module named in a string, to be imported by importlib ("cnncost.render.text:LayerTable"): an import too
NAMED = re.compile(r"(cnncost(?:\.\w+)+)(?::\w+)?")


def module_names(root: Path = ROOT) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file under cnncost/."""
    names = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The cnncost modules that ``name`` (in file ``path``) imports anywhere in its source."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            # "from . import memory" imports the submodule; "from .graph import Node" the module graph
            targets = [f"{origin}.{alias.name}" if f"{origin}.{alias.name}" in known else origin
                       for alias in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and NAMED.fullmatch(node.value):
            targets = [NAMED.fullmatch(node.value).group(1)]  # type: ignore[union-attr]
        else:
            continue
        for target in targets:
            while target and target not in known:  # "import cnncost.render.grid.x" -> the module that exists
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    names = module_names(root)
    return {name: imports_of(name, path, set(names)) for name, path in names.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(v: str) -> None:  # recursive: the package has ~100 modules, far below the recursion limit
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
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


def test_the_parser_sees_function_level_and_relative_imports(tmp_path):
    # a made-up package: a imports b at module level, b imports a inside a function, c imports a's
    # submodule by "from . import", d imports nothing of the package
    pkg = tmp_path / "cnncost"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .b import f\n")
    (pkg / "b.py").write_text("def f():\n    from . import a\n    return a\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "c.py").write_text("from .. import a\nfrom ..sub import d\nimport cnncost.b\n")
    (pkg / "sub" / "d.py").write_text("import os\nLATER = {'x': 'cnncost.a:f'}  # importlib, by name\n")
    graph = import_graph(pkg)
    assert graph == {"cnncost": set(), "cnncost.a": {"cnncost.b"}, "cnncost.b": {"cnncost.a"},
                     "cnncost.sub": set(), "cnncost.sub.c": {"cnncost.a", "cnncost.sub.d", "cnncost.b"},
                     "cnncost.sub.d": {"cnncost.a"}}
    assert cycles(graph) == [["cnncost.a", "cnncost.b"]]


# The imports that still close a cycle, each pointing up the layers (a record or a result calling the
# analysis or the renderer above it), and each needed: without it, a cycle is left. Breaking one means moving
# code to where it belongs, then deleting its line here; a line whose import is gone, or no longer needed,
# fails the test, so the list only shrinks (docs/architecture.md).
LEFT_TO_BREAK = {
    # the kind records call analysis helpers (field rules, saved-tensor rules, memory's); kinds.py registers
    # kinds_tensor.py's kinds at its end while kinds_tensor.py imports kinds.py's record machinery
    ("kinds", "kinds_tensor"), ("kinds", "rf"), ("kinds", "saved_rules"), ("kinds_tensor", "memory"),
    ("kinds", "kinds_swin"),  # kinds_swin.py's (Swin) registered at kinds.py's end, the same way
    # Report's methods reach up: under() to the engine, its table, diagram and training rules
    ("report", "training"), ("report", "engine"), ("report", "diagram"), ("report", "render.report_table"),
    # Result's describe/render tables reach the renderers (the formats registry is their place)
    ("results", "render.formats"), ("results", "render.explain"), ("results", "render.rows"), ("results", "report"),
    # the shadow traces reuse the torch importer's private helpers (_attribute, _defaults, _on_meta)
    ("importers.folding", "importers.torch"),
}


def test_cnncost_has_no_import_cycle():
    graph = import_graph()
    left = {("cnncost." + a, "cnncost." + b) for a, b in LEFT_TO_BREAK}
    gone = sorted(f"{a} -> {b}" for a, b in left if b not in graph.get(a, ()))
    assert not gone, "no longer imported: delete from LEFT_TO_BREAK: " + ", ".join(gone)
    # each listed import is needed: with every other one left out, it still closes a cycle
    idle = []
    for a, b in sorted(left):
        others = {k: v - {y for x, y in left if x == k and (x, y) != (a, b)} for k, v in graph.items()}
        if not cycles(others):
            idle.append(f"{a} -> {b}")
    assert not idle, "closes no cycle by itself: delete it (or one of them) from LEFT_TO_BREAK: " + ", ".join(idle)
    for a, b in left:
        graph[a].discard(b)
    found = cycles(graph)
    assert not found, "import cycles (function-level imports included):\n" + "\n".join(
        " <-> ".join(c) for c in found)
