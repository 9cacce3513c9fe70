"""Ingest: the website's complete participants become a new DVC version of data/raw/collected, the rest named."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sales_ability.collect.storage import ParticipantStore
from sales_ability.operations.ingest import INGEST_EXPERIMENT, IngestError, ingest_collected, recorded_version
from tests.participants import QUESTIONNAIRE, website_participant

DVC = str(Path(sys.executable).parent / "dvc")


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    for cmd in (["git", "init", "-q"], [DVC, "init", "-q"]):
        subprocess.run(cmd, cwd=root, check=True)
    return root


def test_ingest_versions_new_participants_names_the_rejected_and_drops_the_withdrawn(
        project: Path, tmp_path: Path, demo_dir: Path, isolated_mlflow: str) -> None:
    store = ParticipantStore(tmp_path / "website")
    clip = demo_dir / "p000_c0.mp4"
    good = QUESTIONNAIRE
    ann = website_participant(store, clip, good)
    bad = dict(good, q7=9)  # outside 1..5: the questionnaire cannot be scored
    rejected = website_participant(store, clip, bad)
    website_participant(store, clip, None, complete=False)  # still answering: not ingested, not rejected

    first = ingest_collected(store.root, project, run_id="night-1")
    assert (first.new, first.withdrawn, first.participants, first.changed) == ([ann], [], 1, True)
    assert list(first.rejected) == [rejected] and "q7" in first.rejected[rejected]
    assert sorted(p.name for p in (project / "data/raw/collected").iterdir()) == [ann]
    assert first.version == recorded_version(project) is not None
    ignored = subprocess.run(["git", "check-ignore", "-q", "data/raw/collected.dvc"], cwd=project)
    assert ignored.returncode == 1  # the .dvc file is for git; the videos are DVC's

    import mlflow

    runs = mlflow.search_runs(experiment_names=[INGEST_EXPERIMENT])
    assert len(runs) == 1 and runs["metrics.new"].iloc[0] == 1 and runs["metrics.rejected"].iloc[0] == 1
    assert runs["tags.airflow_run_id"].iloc[0] == "night-1"
    assert ann not in json.dumps(runs.to_dict(orient="records"), default=str)  # counts only, never ids

    again = ingest_collected(store.root, project, log_to_mlflow=False)
    assert (again.new, again.withdrawn, again.changed, again.version) == ([], [], False, first.version)

    ben = website_participant(store, clip, good)
    store.delete(ann)  # withdrawn on the website (its export copy is left for the ingest to drop)
    third = ingest_collected(store.root, project, log_to_mlflow=False)
    assert (third.new, third.withdrawn, third.participants, third.changed) == ([ben], [ann], 1, True)
    assert not (project / "data/raw/collected" / ann).exists() and third.version != first.version


def test_a_missing_website_folder_or_dvc_project_is_named(project: Path, tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="website's data folder not found"):
        ingest_collected(tmp_path / "nowhere", project, log_to_mlflow=False)
    (tmp_path / "website").mkdir()
    with pytest.raises(IngestError, match="must be a DVC project"):
        ingest_collected(tmp_path / "website", tmp_path, log_to_mlflow=False)
