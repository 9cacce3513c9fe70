"""Forget: a participant in two DVC versions, featurized and trained on, leaves no byte in any store or version."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sales_ability.collect.storage import REQUESTS_DIR, ParticipantStore
from sales_ability.operations import forget as forget_module
from sales_ability.operations.forget import (FLAG_TAG, ForgetError, erasure_status, forget, forget_requested,
                                             person_hash, erasure_salt)
from sales_ability.operations.ingest import ingest_collected
from tests.conftest import run_cli
from tests.participants import QUESTIONNAIRE, website_participant

DVC = str(Path(sys.executable).parent / "dvc")
PEOPLE = ["AAAAAAAAAAAAAAA1", "BBBBBBBBBBBBBBB2", "CCCCCCCCCCCCCCC3"]
LATER = "DDDDDDDDDDDDDDD4"  # joins in the second version
GONE = PEOPLE[0]  # the one who withdraws

# A tiny featurize and train, with the project's own face-tensor writer: each answer's bytes seed its crops.
FEATURIZE = '''
import csv, hashlib, pathlib, numpy as np
from sales_ability.data.face_tensors import ClipFeatures, FaceTensorWriter
writer = FaceTensorWriter("data/faces", shard_size=2, n_frames=4, size=16)
rows = []
for answer in sorted(pathlib.Path("data/raw/collected").glob("*/answer_*.bin")):
    person = answer.parent.name
    seed = int.from_bytes(hashlib.sha256(answer.read_bytes()).digest()[:8], "little")
    frames = np.random.default_rng(seed).integers(0, 256, (4, 16, 16, 3), dtype=np.uint8)
    clip = {"clip_id": f"{person}/{answer.stem}", "source": str(answer), "participant_id": person, "split": "train"}
    writer.add(ClipFeatures(clip, frames, np.arange(4), np.ones(4, bool), np.zeros((4, 4)), 6.0, 32, 32, 4, "yunet"))
    rows.append({"participant_id": person, "clip_id": clip["clip_id"], "extraversion": 0.5})
writer.flush()
with open("data/manifest.csv", "w", newline="") as f:
    w = csv.DictWriter(f, ["participant_id", "clip_id", "extraversion"]); w.writeheader(); w.writerows(rows)
'''
TRAIN = '''
import json, pathlib, pyarrow.parquet as pq
people = sorted({p for s in sorted(pathlib.Path("data/faces").glob("*.parquet")) for p in pq.read_table(s)["participant_id"].to_pylist()})
out = pathlib.Path("models/m"); out.mkdir(parents=True, exist_ok=True)
(out / "weights.bin").write_bytes(bytes(range(256)) * 4)
json.dump({"split": "validation", "n": len(people), "participant_id": people,
           "predicted": {"extraversion": [0.5] * len(people)}, "true": {"extraversion": [0.4] * len(people)}},
          open(out / "calibration.json", "w"))
'''
DVC_YAML = '''stages:
  featurize:
    cmd: python featurize.py
    deps: [featurize.py, data/raw/collected]
    outs: [data/faces, data/manifest.csv]
  train:
    cmd: python train.py
    deps: [train.py, data/faces]
    outs: [models/m]
'''


def run(cwd: Path, *cmd: str) -> str:
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"  # the stages' `python` is this one
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env={**os.environ, "PATH": path})
    assert proc.returncode == 0, f"{' '.join(cmd)}: {proc.stdout}{proc.stderr}"
    return proc.stdout


def answer_bytes(person: str, number: int) -> bytes:
    return np.random.default_rng(abs(hash((person, number))) % 2**32).integers(0, 256, 4096, dtype=np.uint8).tobytes()


def add_people(project: Path, people: list[str]) -> None:
    for person in people:
        for number in (1, 2):
            path = project / "data/raw/collected" / person / f"answer_{number}.bin"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(answer_bytes(person, number))


def version(project: Path, message: str) -> None:
    """The README's path: dvc add of the collected folder, repro, push, commit."""
    run(project, DVC, "add", "-q", "data/raw/collected")
    run(project, DVC, "repro", "-q")
    run(project, DVC, "push", "-q")
    run(project, "git", "add", "-A")
    run(project, "git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", message)


def needles(person: str) -> list[bytes]:
    """Pieces of the person's answers and of their crops, as a content search would look for them."""
    out = []
    for number in (1, 2):
        data = answer_bytes(person, number)
        out.append(data[1000:1064])
        import hashlib

        seed = int.from_bytes(hashlib.sha256(data).digest()[:8], "little")
        frames = np.random.default_rng(seed).integers(0, 256, (4, 16, 16, 3), dtype=np.uint8).tobytes()
        out.extend(frames[i:i + 48] for i in range(0, len(frames), 700))
    return out


def found_in(folder: Path, pieces: list[bytes], text: str | None = None) -> list[str]:
    hits = []
    for path in [p for p in folder.rglob("*") if p.is_file()]:
        data = path.read_bytes()
        if any(piece in data for piece in pieces) or (text is not None and text.encode() in data):
            hits.append(str(path.relative_to(folder)))
    return hits


@pytest.fixture()
def trained_project(tmp_path: Path, isolated_mlflow: str) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    run(project, "git", "init", "-q")
    run(project, DVC, "init", "-q")
    run(project, DVC, "remote", "add", "-d", "local", str(tmp_path / "remote"))
    (project / "featurize.py").write_text(FEATURIZE)
    (project / "train.py").write_text(TRAIN)
    (project / "dvc.yaml").write_text(DVC_YAML)
    add_people(project, PEOPLE)
    version(project, "version 1")
    add_people(project, [LATER])
    version(project, "version 2: a newcomer")
    return project


def log_training_run(project: Path, artifacts: Path) -> tuple[str, str]:
    """The training's MLflow run (tagged with its face tensors' hash, as the stages do) and a registered version."""
    import mlflow
    import yaml

    lock = yaml.safe_load((project / "dvc.lock").read_text())
    faces = next(o["md5"] for o in lock["stages"]["featurize"]["outs"] if o["path"] == "data/faces")
    experiment = mlflow.create_experiment("training", artifact_location=artifacts.as_uri())
    with mlflow.start_run(experiment_id=experiment) as active:
        mlflow.set_tags({"dvc.data/faces": faces})
        mlflow.log_artifact(str(project / "models/m/calibration.json"), "finetune")
        mlflow.log_dict({"columns": ["path"], "data": [[f"inbox/{p}/answer_1.webm"] for p in PEOPLE]}, "input_example.json")
        mlflow.log_text(f"trained on {len(PEOPLE) + 1} people", "notes/summary.txt")
    client = mlflow.MlflowClient()
    client.create_registered_model("sales-ability")
    mv = client.create_model_version("sales-ability", f"{active.info.artifact_uri}/finetune", run_id=active.info.run_id)
    return active.info.run_id, mv.version


def test_forget_leaves_no_byte_in_any_version_store_or_model_and_resumes(
        trained_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_mlflow: str) -> None:
    project, remote, artifacts = trained_project, tmp_path / "remote", tmp_path / "mlartifacts"
    run_id, registered = log_training_run(project, artifacts)
    import hashlib

    digest = hashlib.md5(answer_bytes(GONE, 2)).hexdigest()  # also in DVC 2's layout, which DVC 3 still reads
    for store in (project / ".dvc/cache", remote):
        (store / digest[:2]).mkdir(exist_ok=True)
        shutil.copy(store / "files/md5" / digest[:2] / digest[2:], store / digest[:2] / digest[2:])
    orphan = answer_bytes(GONE, 1) + b" as an uncommitted run cached it: no version names it"
    for store in (project / ".dvc/cache/files/md5", remote / "files/md5"):
        digest = hashlib.md5(orphan).hexdigest()
        (store / digest[:2]).mkdir(exist_ok=True)
        (store / digest[:2] / digest[2:]).write_bytes(orphan)
    pieces = needles(GONE)
    for store in (project / ".dvc/cache", remote, project / "data"):  # the test can fail: they are there now
        assert found_in(store, pieces), store
    assert found_in(artifacts, [], GONE)
    kept = {p: needles(p) for p in (PEOPLE[1], LATER)}

    real_delete = forget_module.Stores.delete

    def interrupted(self, oids):  # the machine stops after the first object goes
        real_delete(self, oids[:1])
        raise KeyboardInterrupt

    monkeypatch.setattr(forget_module.Stores, "delete", interrupted)
    with pytest.raises(KeyboardInterrupt):
        forget(GONE, project)
    [pending] = erasure_status(project)
    assert pending.status == "pending" and pending.person == person_hash(erasure_salt(project), GONE)[:12]
    monkeypatch.setattr(forget_module.Stores, "delete", real_delete)

    done = forget(GONE, project)  # resumes the pending request and finishes it
    record = done.record
    assert record.status == "complete" and set(record.steps) >= {"plan", "workspace", "push", "mlflow", "delete"}
    # no byte of their answers or crops anywhere: cache, remote, workspace (git included), MLflow's artifacts
    for store in (project, remote, artifacts):
        assert found_in(store, pieces, GONE if store != project else None) == [], store
    assert GONE not in (project / "dvc.lock").read_text() + (project / "data/manifest.csv").read_text()
    # the record: counts and versions, never the id
    text = done.path.read_text()
    assert GONE not in text and json.loads(text)["person"] == person_hash(erasure_salt(project), GONE)
    assert {v["out"] for v in record.no_longer_reproducible} >= {"data/raw/collected", "data/faces", "models/m"}
    assert len({v["commit"] for v in record.no_longer_reproducible}) == 2  # both versions held them
    assert record.removed["dvc_objects_deleted"]["remote local"] > 0
    swept = record.removed["unreferenced_objects_removed"]  # the orphan, by dvc gc over every version
    assert swept["cache"] >= 1 and swept["remote local"] >= 1
    assert [f for f in record.models_flagged if f.get("registered") == f"sales-ability/{registered}"]
    import mlflow

    client = mlflow.MlflowClient()
    assert client.get_run(run_id).data.tags[FLAG_TAG] == record.request
    assert client.get_model_version("sales-ability", registered).tags[FLAG_TAG] == record.request
    calibration = json.loads(next(artifacts.rglob("calibration.json")).read_text())
    assert calibration["participant_id"] == sorted([*PEOPLE[1:], LATER]) and calibration["n"] == 3
    # the current version is committed, checks out from the remote in a fresh clone and reproduces without them
    assert done.committed and "stale" not in record.stale_stages and {"featurize", "train"} <= set(record.stale_stages)
    assert run(project, "git", "status", "--porcelain", "--", "dvc.lock", "data", "erasures") == ""
    clone = tmp_path / "clone"
    run(tmp_path, "git", "clone", "-q", str(project), str(clone))
    run(clone, DVC, "pull", "-q")
    assert sorted(p.name for p in (clone / "data/raw/collected").iterdir()) == sorted([*PEOPLE[1:], LATER])
    for person, theirs in kept.items():  # the others' answers and crops are all still there
        assert found_in(clone / "data", theirs), person
    run(clone, DVC, "repro", "-q")
    assert json.loads((clone / "models/m/calibration.json").read_text())["n"] == 3
    assert erasure_status(project)[0].status == "complete"
    # a second withdrawal: nothing the first erasure wrote while reading the earlier versions still holds them,
    # and the run is flagged again though the listing it names is gone (erasures/replaced.json links it)
    second = forget(PEOPLE[1], project)
    assert client.get_run(run_id).data.tags[FLAG_TAG] == f"{record.request},{second.record.request}"
    for store in (project, remote):
        assert found_in(store, kept[PEOPLE[1]], PEOPLE[1] if store == remote else None) == [], store


def test_the_websites_withdrawal_reaches_the_project_through_its_request(
        tmp_path: Path, demo_dir: Path, isolated_mlflow: str) -> None:
    project = tmp_path / "project"
    project.mkdir()
    run(project, "git", "init", "-q")
    run(project, DVC, "init", "-q")
    store = ParticipantStore(tmp_path / "website")
    ann = website_participant(store, demo_dir / "p000_c0.mp4", QUESTIONNAIRE)
    ben = website_participant(store, demo_dir / "p000_c0.mp4", QUESTIONNAIRE)
    first = ingest_collected(store.root, project, log_to_mlflow=False)
    assert first.participants == 2
    store.delete(ann)  # the website's withdrawal: its files go, a request is left for the project
    [waiting] = erasure_status(project, store.root)
    assert waiting.status == "waiting" and not waiting.overdue
    request = next((store.root / REQUESTS_DIR).glob("*.json"))
    request.write_text(json.dumps({**json.loads(request.read_text()), "requested": "2026-01-05T09:00:00+00:00"}))
    [late] = erasure_status(project, store.root)  # past the 30 days: the notice, and exit 1
    listed = run_cli("forget", "--status", "--project", project, "--from", store.root)
    shown = listed.stdout + listed.stderr  # the CLI's console writes to stderr
    assert late.overdue and listed.returncode == 1 and "waiting" in shown and ann not in shown
    assert "1 request(s) older than 30 days" in " ".join(shown.split())
    run(project, DVC, "remote", "add", "unreachable", "s3://nowhere/dvc")
    run(project, DVC, "remote", "modify", "unreachable", "endpointurl", "http://127.0.0.1:9")
    with pytest.raises(ForgetError, match="remote 'unreachable' cannot be listed"):  # before anything is removed
        forget_requested(store.root, project, commit=False)
    assert (project / "data/raw/collected" / ann).is_dir() and list((store.root / REQUESTS_DIR).glob("*.json"))
    run(project, DVC, "remote", "remove", "unreachable")
    [done] = forget_requested(store.root, project, commit=False)
    assert done.record.requested_by == "website" and done.record.requested == late.requested
    assert not list((store.root / REQUESTS_DIR).glob("*.json"))
    assert sorted(p.name for p in (project / "data/raw/collected").iterdir()) == [ben]
    shutil.rmtree(project / "data/raw/collected")  # ben's answers are the same bytes as ann's: kept for ben
    run(project, DVC, "checkout", "-q", "data/raw/collected.dvc")
    assert sorted(p.name for p in (project / "data/raw/collected" / ben).iterdir()) == sorted(
        p.name for p in (store.root / ben).iterdir() if not p.name.startswith("."))
    cached = b"".join(p.read_bytes() for p in (project / ".dvc/cache").rglob("*") if p.is_file())
    assert ann.encode() not in cached and ben.encode() in cached  # listings name folders; theirs is gone
    with pytest.raises(ForgetError, match="not a website participant.s or applicant.s id"):
        forget("../etc", project)
    shutil.rmtree(project / ".dvc")
    with pytest.raises(ForgetError, match="must be a DVC project"):
        forget(ben, project)
