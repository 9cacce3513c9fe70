"""The folder tree is the architecture: imports flow one way, from data to the stages and the CLI."""

from __future__ import annotations

import ast

from tests.conftest import REPO

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
