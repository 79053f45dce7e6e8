"""The dependency rule between the top-level packages: what is shared depends on no service."""

from __future__ import annotations

import ast
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared"


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_no_shared_module_imports_a_service():
    offenders = {
        str(path.relative_to(SHARED.parent)): sorted(
            m for m in imported_modules(path) if m == "services" or m.startswith("services.")
        )
        for path in sorted(SHARED.rglob("*.py"))
    }
    assert {path: found for path, found in offenders.items() if found} == {}
    assert len(offenders) > 10  # the walk found shared's modules
