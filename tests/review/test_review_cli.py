"""The admin's commands: accounts (refused by name when bad), requisitions, the export, the oversight figures
logged to MLflow as aggregates only."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from argon2 import PasswordHasher
from sqlalchemy import select

from sales_ability.results import store as db
from sales_ability.review.accounts import Session
from sales_ability.review.decisions import record_decision
from sales_ability.review.oversight import log_oversight, oversight
from sales_ability.review.requisitions import find_requisition


def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    """The installed command, its console's lines (stderr) in ``stdout``."""
    exe = Path(sys.executable).parent / "sales-ability"
    return subprocess.run([str(exe), *args], input=stdin, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)


def test_accounts_and_requisitions_from_the_command_line(workspace: dict, tmp_path: Path) -> None:
    url = workspace["url"]
    short = cli("review", "account", "create", "nina", "--password-stdin", "--database-url", url, stdin="short\n")
    assert short.returncode == 2 and "at least 12 are needed" in short.stdout
    made = cli("review", "account", "create", "nina", "--role", "recruiter", "--password-stdin", "--database-url", url,
               stdin="a long enough password\n")
    assert made.returncode == 0, made.stdout + made.stderr
    with db.engine(url).connect() as conn:
        stored = conn.execute(select(db.accounts.c.password_hash).where(db.accounts.c.username == "nina")).scalar_one()
    product = PasswordHasher()  # the command hashes at argon2-cffi's defaults (only the tests' own process is cheap)
    assert stored.startswith(f"$argon2id$v=19$m={product.memory_cost},t={product.time_cost},p={product.parallelism}$")
    again = cli("review", "account", "create", "nina", "--password-stdin", "--database-url", url, stdin="a long enough password\n")
    assert again.returncode == 2 and "exists already" in again.stdout
    opened = cli("review", "requisition", "create", "REQ-9", "--title", "Key accounts", "--recruiter", "nina", "--database-url", url)
    assert opened.returncode == 0 and "REQ-9 opened (nina)" in opened.stdout
    unknown = cli("review", "requisition", "assign", "REQ-9", "nobody", "--database-url", url)
    assert unknown.returncode == 2 and "no account 'nobody'" in unknown.stdout
    exported = cli("review", "export", "REQ-1", "--out", str(tmp_path / "exports"), "--database-url", url)
    assert exported.returncode == 0, exported.stdout
    body = json.loads((tmp_path / "exports" / "REQ-1.json").read_text())
    assert {a["applicant_id"] for a in body["applicants"]} == {"ann_k", "bob_k", "cyd_k", "dan_k", "eve_k", "fay_k"}


def test_oversight_goes_to_mlflow_without_applicant_ids(workspace: dict, tmp_path: Path, isolated_mlflow: str) -> None:
    import mlflow

    url = workspace["url"]
    session = Session("rita", "recruiter", "x", None)
    requisition = find_requisition(url, "REQ-1")
    for applicant, choice in (("ann_k", "advance"), ("bob_k", "reject"), ("cyd_k", "advance")):
        record_decision(url, session, requisition, applicant, choice, "communication", "", "3")
    run_id = log_oversight(oversight(url))
    run = mlflow.get_run(run_id)
    assert run.data.metrics["REQ-1.decisions"] == 3 and abs(run.data.metrics["REQ-1.selection_rate"] - 2 / 3) < 1e-9
    logged = Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="oversight.json", dst_path=str(tmp_path / "a"))).read_text()
    assert "ann_k" not in logged and "bob_k" not in logged and '"against_band"' in logged
