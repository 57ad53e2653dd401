"""The package's shape, checked from its source (no import, no subprocess):
the child side imports nothing of the parent side or the finders, no module
imports another in a cycle, and modules, classes and functions stay small
enough to read."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "pytest_isolated"
MODULES = {
    ".".join(
        ("pytest_isolated", *path.relative_to(PACKAGE).with_suffix("").parts)
    ).removesuffix(".__init__"): path
    for path in sorted(PACKAGE.rglob("*.py"))
}
MAX_MODULE_LINES = 400
MAX_CLASS_LINES = 200
MAX_FUNCTION_LINES = 60


def _in_type_checking(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def imports_of(module: str) -> Iterator[str]:
    """Every module of the package *module* imports, lazily or not (imports
    for type checking only are left out: they never run)."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    parents = {
        child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)
    }
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if _in_type_checking(node, parents):
            continue
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, *([base] if base else [])])
            # "from package import module" imports the module; the package's
            # __init__ is already importing or imported.
            modules = [f"{base}.{alias.name}" for alias in node.names]
            names = [m for m in modules if m in MODULES] or [base]
        for name in names:
            if name in MODULES and name != module:
                yield name


GRAPH = {module: set(imports_of(module)) for module in MODULES}


@pytest.mark.parametrize(
    "module", [m for m in MODULES if m.startswith("pytest_isolated.child")]
)
def test_the_child_side_imports_nothing_of_the_parent_side(module: str) -> None:
    crossing = sorted(
        name
        for name in GRAPH[module]
        if name.split(".")[1:2] in (["parent"], ["finding"])
    )
    assert crossing == []


@pytest.mark.parametrize(
    "module", [m for m in MODULES if m.startswith("pytest_isolated.platform")]
)
def test_the_platform_modules_use_no_pytest(module: str) -> None:
    text = MODULES[module].read_text(encoding="utf-8")
    assert "import pytest" not in text
    assert "from _pytest" not in text


def test_no_import_cycle() -> None:
    def cycle_from(start: str) -> list[str] | None:
        stack = [(start, [start])]
        while stack:
            module, path = stack.pop()
            for name in GRAPH[module]:
                if name == start:
                    return [*path, name]
                if name not in path and name.startswith("pytest_isolated."):
                    # Importing a package runs its __init__, not its modules.
                    stack.append((name, [*path, name]))
        return None

    cycles = {m: c for m in MODULES if (c := cycle_from(m)) is not None}
    assert cycles == {}


def _too_long() -> Iterator[str]:
    for module, path in MODULES.items():
        lines = path.read_text(encoding="utf-8").count("\n")
        if lines > MAX_MODULE_LINES:
            yield f"{module}: {lines} lines"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            assert node is not None
            size = (
                (getattr(node, "end_lineno", 0) or 0) - getattr(node, "lineno", 0) + 1
            )
            if isinstance(node, ast.ClassDef) and size > MAX_CLASS_LINES:
                yield f"{module}.{node.name}: a class of {size} lines"
            if (
                isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                and size > MAX_FUNCTION_LINES
            ):
                yield f"{module}: {node.name}(), a function of {size} lines"


def test_modules_classes_and_functions_stay_small() -> None:
    assert list(_too_long()) == []
