"""The packages stay layered: each imports only packages below it (ARCHITECTURE.md, "Layers").

Every ``import`` statement of ``src/trova`` counts, wherever it stands (module level, inside a
function, under ``TYPE_CHECKING``): a lazy import that dodges a cycle is still a cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "trova"

LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"__init__"}),
    frozenset({"client"}),
    frozenset({"errors", "settings", "lifeline", "collector", "metrics"}),
    frozenset({"store"}),
    frozenset({"people"}),
    frozenset({"accounts"}),
    frozenset({"webhooks"}),
    frozenset({"contacts"}),
    frozenset({"privacy"}),
    frozenset({"ingest"}),
    frozenset({"finder"}),
    frozenset({"jobs"}),
    frozenset({"batches"}),
    frozenset({"sources"}),
    frozenset({"erasure"}),
    frozenset({"bulk"}),
    frozenset({"web"}),
    frozenset({"api"}),
    frozenset({"runtime"}),
    frozenset({"mcp"}),
    frozenset({"cli"}),
    frozenset({"__main__"}),
)
"""Bottom up. A package may import its own modules and the packages of lower layers, nothing else.

``__init__`` is the ``trova`` package itself (its version). The client stands below everything else
of Trova, errors included, so that it can be lifted out as a package of its own.
"""

RANK = {package: rank for rank, layer in enumerate(LAYERS) for package in layer}


def _package_of(path: Path) -> str:
    relative = path.relative_to(SRC)
    return relative.parts[0].removesuffix(".py")


def _source_files() -> Iterator[Path]:
    for path in sorted(SRC.rglob("*.py")):
        if "migrations" not in path.relative_to(SRC).parts:
            yield path


def _imported_packages(module: str, source: str) -> Iterator[tuple[int, str]]:
    """(line, package) for each ``trova.<package>`` that ``module``'s source imports.

    ``module`` is the dotted name of the file (``trova.people.models``, ``trova.people.__init__``),
    used to resolve relative imports.
    """
    container = module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = container[: len(container) - node.level + 1] if node.level else []
            names = [".".join([*base, node.module] if node.module else base)]
            if names == ["trova"]:
                names = [f"trova.{_submodule_or_root(alias.name)}" for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "trova" and len(parts) > 1:
                yield node.lineno, parts[1]


def _submodule_or_root(name: str) -> str:
    """``x`` of ``from trova import x``: a package or module, else a name of the root package."""
    return name if (SRC / name).is_dir() or (SRC / f"{name}.py").is_file() else "__init__"


def _module_name(path: Path) -> str:
    return ".".join(["trova", *path.relative_to(SRC).with_suffix("").parts])


def _violations() -> list[str]:
    found = []
    for path in _source_files():
        package = _package_of(path)
        for line, imported in _imported_packages(_module_name(path), path.read_text()):
            if imported == package:
                continue
            if imported not in RANK:
                found.append(f"{path.relative_to(SRC)}:{line}: trova.{imported} has no layer")
            elif RANK[imported] >= RANK[package]:
                found.append(f"{path.relative_to(SRC)}:{line}: {package} imports {imported} (not below it)")
    return found


def test_every_package_has_a_layer() -> None:
    packages = {_package_of(path) for path in _source_files()} - {"__init__"}
    assert packages - RANK.keys() == set()


def test_packages_import_only_lower_layers() -> None:
    assert _violations() == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from trova.finder import service\n", ["finder"]),
        ("import trova.store.tables\n", ["store"]),
        ("def f():\n    from trova.sources.waterfall import x\n", ["sources"]),
        ("from trova import errors, settings\n", ["errors", "settings"]),
        ("from .models import Search\n", ["people"]),
        ("from ..store import Database\n", ["store"]),
        ("from trova import __version__\n", ["__init__"]),
        ("import os\nfrom sqlalchemy import text\n", []),
    ],
)
def test_imports_are_read_wherever_they_stand(source: str, expected: list[str]) -> None:
    """The walk itself: absolute, relative, lazy and ``from trova import x`` forms are all seen."""
    found = [package for _, package in _imported_packages("trova.people.models", source)]
    assert found == expected


def test_relative_imports_of_a_package_init_resolve_to_the_package() -> None:
    found = [package for _, package in _imported_packages("trova.people.__init__", "from .models import X\n")]
    assert found == ["people"]


MAX_MODULE_LINES = 450


def test_no_module_is_over_the_size_limit() -> None:
    """Past this a module holds more than one idea; split it (generated migrations aside)."""
    sizes = {str(path.relative_to(SRC)): len(path.read_text().splitlines()) for path in _source_files()}
    assert {name: lines for name, lines in sizes.items() if lines > MAX_MODULE_LINES} == {}
