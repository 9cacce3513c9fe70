"""Every DVC stage lists, as deps, all package code its command can run (so a change makes it stale)."""

from __future__ import annotations

import ast
from pathlib import Path

import yaml

from tests.conftest import REPO

PACKAGE = REPO / "src"


def _module_file(name: str) -> Path | None:
    base = PACKAGE / name.replace(".", "/")
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_code(script: Path) -> set[Path]:
    """The package files ``script`` imports, directly or through other package files, at top level or
    inside functions (a lazy import still runs in the stage), plus each subpackage's ``__init__``."""
    seen: set[Path] = set()
    todo = [script]
    while todo:
        tree = ast.parse(todo.pop().read_text())
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("sales_ability"):
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names if a.name.startswith("sales_ability")]
            for name in names:
                parts = name.split(".")
                for i in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__, a/b/__init__, a/b/c
                    path = _module_file(".".join(parts[:i]))
                    if path is not None and path not in seen:
                        seen.add(path)
                        todo.append(path)
    return seen


def uncovered(stage: dict) -> list[str]:
    deps = [REPO / d for d in stage.get("deps", [])]
    script = REPO / stage["cmd"].split()[1]
    return sorted(str(f.relative_to(REPO)) for f in imported_code(script)
                  if not any(f == d or d in f.parents for d in deps))


def test_every_stage_lists_the_code_it_imports() -> None:
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    missing = {name: uncovered(stage) for name, stage in stages.items()}
    assert {name: files for name, files in missing.items() if files} == {}


def test_the_closure_follows_lazy_imports(tmp_path: Path) -> None:
    """``train`` builds the model inside a function: the network module is still found."""
    found = imported_code(REPO / "pipelines/train.py")
    assert PACKAGE / "sales_ability/model/network.py" in found
    assert PACKAGE / "sales_ability/model/__init__.py" in found


def test_a_stage_that_renders_pages_lists_their_templates() -> None:
    """Template files are no imports: a stage rendering HTML (pages.py) must list the templates folder itself."""
    import yaml

    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    rendering = [name for name, s in stages.items() if "src/sales_ability/pages.py" in s.get("deps", [])]
    assert rendering and all("src/sales_ability/templates" in stages[n]["deps"] for n in rendering)
