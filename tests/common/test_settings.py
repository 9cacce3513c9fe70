"""Every SALES_ABILITY_* variable is one typed setting: refused by name when bad or misspelt, documented in one table."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from sales_ability.settings import PREFIX, Settings, SettingsError, settings

REPO = Path(__file__).resolve().parents[2]


def test_every_variable_the_code_and_docs_name_is_a_setting_in_the_one_table() -> None:
    named = set()
    for folder in ("src", "dags", "docker", "docs"):
        for path in (REPO / folder).rglob("*"):
            if path.is_file() and path.suffix in (".py", ".md", ".yml", ".example", ".txt") or path.name == ".env.example":
                named |= set(re.findall(r"(?<![A-Z0-9_])SALES_ABILITY_[A-Z0-9_]*[A-Z0-9]", path.read_text(errors="ignore")))
    fields = {f"{PREFIX}{name.upper()}" for name in Settings.model_fields}
    examples = {"SALES_ABILITY_X", "SALES_ABILITY_APROVAL_TIMEOUT_H"}  # the docs' placeholder and misspelling
    assert named - examples <= fields, named - fields
    table = (REPO / "docs" / "operator.md").read_text().split("## Settings", 1)[1].split("\n## ", 1)[0]
    assert {f for f in fields if f"`{f}`" not in table} == set()  # each one documented


def test_a_bad_value_or_a_misspelt_name_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SALES_ABILITY_SHARD_SIZE", "0")
    with pytest.raises(SettingsError, match="SALES_ABILITY_SHARD_SIZE='0'"):
        settings()
    monkeypatch.setenv("SALES_ABILITY_SHARD_SIZE", "")  # blank: the default, as a compose file leaves it
    monkeypatch.setenv("SALES_ABILITY_APROVAL_TIMEOUT_H", "1")
    with pytest.raises(SettingsError, match="did you mean SALES_ABILITY_APPROVAL_TIMEOUT_H"):
        settings()
    monkeypatch.delenv("SALES_ABILITY_APROVAL_TIMEOUT_H")
    monkeypatch.setenv("SALES_ABILITY_ALERT_WEBHOOK", "https://hooks.example/T0SECRET")
    loaded = settings()
    assert loaded.shard_size == 8 and "T0SECRET" not in repr(loaded)  # secrets never printed


def test_the_cli_refuses_a_bad_setting_at_start_naming_it() -> None:
    cli = str(Path(sys.executable).parent / "sales-ability")
    run = subprocess.run([cli, "summary"], capture_output=True, text=True, timeout=120,
                         env={"PATH": str(Path(sys.executable).parent), "SALES_ABILITY_MAX_SHARDS": "lots"})
    assert run.returncode == 2 and "SALES_ABILITY_MAX_SHARDS='lots'" in run.stdout + run.stderr
