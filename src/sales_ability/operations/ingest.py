"""Ingest: the website's complete, consented participants into the DVC-versioned collected dataset.

The retraining DAG runs it first (and ``sales-ability ingest`` by hand): the website's export copies each
complete participant whose questionnaire scores and whose answers can be read into ``data/raw/collected``
(the others are left out with their reason) and drops the withdrawn; ``dvc add`` then records the folder's
new version in ``data/raw/collected.dvc``, which the DAG's ``record_lock`` commits on its branch beside
``dvc.lock`` and ``push_outputs`` sends to the remote. Only counts leave for MLflow, never ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from sales_ability.collect.storage import ParticipantStore
from sales_ability.data.applicant_folder import PARTICIPANT_ID
from sales_ability.data.datasets import participant_problem
from sales_ability.errors import SalesAbilityError
from sales_ability.operations.retraining import run_dvc
from sales_ability.registry.tracking import project_tracking_uri, stage_run

COLLECTED = Path("data/raw/collected")  # the website's dataset (params: finetune.dataset / dataset.name: collected)
INGEST_EXPERIMENT = "sales-ability-ingest"


class IngestError(SalesAbilityError):
    """The website's data folder or the project cannot be ingested from or into (named in the message)."""


@dataclass(frozen=True)
class IngestResult:
    dataset: str  # the folder DVC versions, relative to the project
    new: list[str]  # participants in this version who were not in the last one
    withdrawn: list[str]  # participants in the last version who are no longer on the website
    rejected: dict[str, str] = field(default_factory=dict)  # complete but unusable: participant -> reason
    participants: int = 0  # in this version
    version: str | None = None  # the folder's DVC hash (md5 of its listing)
    changed: bool = False  # a new version was recorded

    def counts(self) -> dict[str, int]:
        return {"new": len(self.new), "withdrawn": len(self.withdrawn), "rejected": len(self.rejected),
                "participants": self.participants, "changed": int(self.changed)}


def recorded_version(project: Path, dataset: Path = COLLECTED) -> str | None:
    """The folder's hash in its ``.dvc`` file (None before the first ingest)."""
    dvc_file = project / dataset.with_name(dataset.name + ".dvc")
    if not dvc_file.is_file():
        return None
    outs = (yaml.safe_load(dvc_file.read_text()) or {}).get("outs") or [{}]
    return outs[0].get("md5")


def _participants(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if p.is_dir() and PARTICIPANT_ID.fullmatch(p.name)} if folder.is_dir() else set()


def ingest_collected(website_data: str | Path, project: str | Path, dataset: Path = COLLECTED,
                     log_to_mlflow: bool = True, run_id: str | None = None) -> IngestResult:
    """Bring ``project/dataset`` up to the website's participants and record a new DVC version when it changed.

    Args:
        website_data: the website's data folder (``collect serve --data-dir``; ``$SALES_ABILITY_COLLECT_DATA``).
        project: the DVC project folder.
        dataset: the collected dataset's folder inside the project.
        log_to_mlflow: one run in the ``sales-ability-ingest`` experiment with the counts (no ids).
        run_id: the Airflow run's id, tagged on the MLflow run.

    Raises:
        IngestError: the website's data folder or the project's ``.dvc`` folder is missing.
    """
    website_data, project = Path(website_data), Path(project)
    if not website_data.is_dir():
        raise IngestError(f"{website_data}: the website's data folder not found (set SALES_ABILITY_COLLECT_DATA or "
                          "--from to `collect serve --data-dir`)")
    if not (project / ".dvc").is_dir():
        raise IngestError(f"{project / '.dvc'}: not found; the project must be a DVC project")
    target = project / dataset
    before, version_before = _participants(target), recorded_version(project, dataset)
    export = ParticipantStore(website_data).export(target, accept=participant_problem)
    after = _participants(target)
    run_dvc(project, "add", "-q", str(dataset))
    version = recorded_version(project, dataset)
    result = IngestResult(str(dataset), sorted(after - before), sorted(before - after), export["rejected"], len(after),
                          version, version != version_before)
    if log_to_mlflow:
        import mlflow

        with stage_run("ingest", params={"dataset": str(dataset)}, tags={"airflow_run_id": run_id or "-"},
                       tracking=project_tracking_uri(project), experiment=INGEST_EXPERIMENT, pipeline=False):
            mlflow.log_metrics({k: float(v) for k, v in result.counts().items()})
    return result

