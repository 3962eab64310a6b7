"""The import graph of the katoutcomes modules has no cycle.

Data flows one way (files -> readers -> ingest -> store -> dataset -> analysis -> outputs);
a module that imports one that imports it back hides that flow and breaks when either is
loaded first. Imports at module level and inside functions both count; imports under
``if TYPE_CHECKING:`` do not (they never run).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "katoutcomes"
SOURCE = Path(__file__).resolve().parents[1] / "src" / PACKAGE

#: Cycles that exist and are not yet broken, as sorted tuples of module names.
KNOWN_CYCLES: frozenset[tuple[str, ...]] = frozenset()


def _module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(SOURCE.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, module: str, modules: set[str], is_package: bool) -> set[str]:
    """Internal modules imported anywhere in ``tree`` except under ``if TYPE_CHECKING:``."""
    found: set[str] = set()

    def resolve(name: str) -> str | None:
        # The longest known module that ``name`` starts with ("katoutcomes.store.Store"
        # -> "katoutcomes.store").
        parts = name.split(".")
        for end in range(len(parts), 0, -1):
            candidate = ".".join(parts[:end])
            if candidate in modules:
                return candidate
        return None

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = resolve(alias.name)
                if target:
                    found.add(target)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".") if is_package else module.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                # ``from katoutcomes import store`` names a module; ``from katoutcomes
                # import __version__`` names the package.
                target = resolve(f"{base}.{alias.name}") or resolve(base)
                if target:
                    found.add(target)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    found.discard(module)
    return found


def import_graph() -> dict[str, set[str]]:
    """Each katoutcomes module and the katoutcomes modules it imports."""
    modules = _modules()
    names = set(modules)
    return {
        name: _imports(
            ast.parse(path.read_text(encoding="utf-8"), filename=str(path)),
            name,
            names,
            path.name == "__init__.py",
        )
        for name, path in modules.items()
    }


def find_cycles(graph: dict[str, set[str]]) -> list[tuple[str, ...]]:
    """Every strongly connected component of more than one module (Tarjan), each as the
    sorted tuple of its modules."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[tuple[str, ...]] = []
    counter = 0

    def connect(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                out.append(tuple(sorted(component)))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return out


def _path_in(graph: dict[str, set[str]], component: tuple[str, ...]) -> list[str]:
    """One import loop through the modules of ``component``, start to start, for the
    message."""
    members = set(component)
    start = component[0]
    parents: dict[str, str] = {}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt in sorted(graph[node] & members):
            if nxt == start:
                loop = [node]
                while loop[-1] != start:
                    loop.append(parents[loop[-1]])
                return [*reversed(loop), start]
            if nxt not in parents:
                parents[nxt] = node
                queue.append(nxt)
    return list(component)


def test_no_import_cycle_between_katoutcomes_modules() -> None:
    graph = import_graph()
    cycles = [c for c in find_cycles(graph) if c not in KNOWN_CYCLES]
    message = "\n".join(" -> ".join(_path_in(graph, c)) for c in cycles)
    assert not cycles, f"import cycles between katoutcomes modules:\n{message}"


def test_known_cycles_still_exist() -> None:
    # A cycle that has been broken is taken off the list, so that it cannot return unseen.
    assert set(KNOWN_CYCLES) <= set(find_cycles(import_graph()))


# ------------------------------------------------------------- the checker finds cycles


def _graph_of(sources: dict[str, str]) -> dict[str, set[str]]:
    names = set(sources)
    return {
        name: _imports(ast.parse(text), name, names, is_package=False)
        for name, text in sources.items()
    }


def test_a_function_level_import_closes_a_cycle() -> None:
    graph = _graph_of(
        {
            "katoutcomes.a": "from katoutcomes.b import f\n",
            "katoutcomes.b": "def f():\n    from katoutcomes import a\n    return a\n",
        }
    )
    cycles = find_cycles(graph)
    assert cycles == [("katoutcomes.a", "katoutcomes.b")]
    assert _path_in(graph, cycles[0]) == ["katoutcomes.a", "katoutcomes.b", "katoutcomes.a"]


def test_a_type_checking_import_does_not_close_a_cycle() -> None:
    graph = _graph_of(
        {
            "katoutcomes.a": "from katoutcomes.b import f\n",
            "katoutcomes.b": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from katoutcomes.a import A\n"
                "def f(): ...\n"
            ),
        }
    )
    assert find_cycles(graph) == []


def test_a_three_module_loop_is_found() -> None:
    graph = _graph_of(
        {
            "katoutcomes.a": "import katoutcomes.b\n",
            "katoutcomes.b": "from katoutcomes.c import x\n",
            "katoutcomes.c": "import katoutcomes.a as a\n",
            "katoutcomes.d": "import katoutcomes.a\n",
        }
    )
    cycles = find_cycles(graph)
    assert cycles == [("katoutcomes.a", "katoutcomes.b", "katoutcomes.c")]
    assert _path_in(graph, cycles[0]) == [
        "katoutcomes.a",
        "katoutcomes.b",
        "katoutcomes.c",
        "katoutcomes.a",
    ]
