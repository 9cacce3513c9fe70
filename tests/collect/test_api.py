"""The collection API: every bad input is refused with a 4xx and a clear message, and nothing is written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from sales_ability.collect.app import create_app
from sales_ability.data.ipip50 import ITEM_COLUMNS
from sales_ability.data.video import write_video


@pytest.fixture(scope="module")
def webm(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("webm") / "answer.webm"
    frames = [np.full((120, 160, 3), 40 + 3 * i, np.uint8) for i in range(20)]
    return write_video(path, frames, 10, codec="libvpx").read_bytes()


@pytest.fixture()
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SALES_ABILITY_ADMIN_TOKEN", "s3cret")
    data = tmp_path / "data"
    client = TestClient(create_app(data, tmp_path / "export", max_upload_bytes=200_000))
    return client, data, tmp_path / "export"


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def _participant(client: TestClient, consent: bool = True) -> str:
    pid = client.post("/api/participants").json()["participant_id"]
    if consent:
        assert client.post(f"/api/participants/{pid}/consent", json={"agree": True}).status_code == 200
    return pid


def test_full_flow_stores_the_layout_the_adapter_reads(site, webm: bytes) -> None:
    client, data, _ = site
    pid = _participant(client)
    for n in range(1, 6):
        r = client.put(f"/api/participants/{pid}/answers/{n}", content=webm, headers={"Content-Type": "video/webm"})
        assert r.status_code == 200, r.text
    again = client.put(f"/api/participants/{pid}/answers/2", content=webm)
    assert again.status_code == 200  # replaced atomically
    answers = {c: 3 for c in ITEM_COLUMNS}
    assert client.post(f"/api/participants/{pid}/ipip50", json={"answers": answers}).status_code == 200
    assert client.post(f"/api/participants/{pid}/complete").json() == {"participant_code": pid}
    assert _files(data / pid) == {"answer_1.webm", "answer_2.webm", "answer_3.webm", "answer_4.webm", "answer_5.webm",
                                  "ipip50.json", "consent.json", "metadata.json"}
    sheet = json.loads((data / pid / "ipip50.json").read_text())
    assert sheet["scores"]["openness"] == 0.5 and sheet["answers"]["q50"] == 3
    assert not list(data.rglob("*.tmp"))


def test_participant_ids_are_random_and_url_safe(site) -> None:
    client, _, _ = site
    ids = {client.post("/api/participants").json()["participant_id"] for _ in range(5)}
    assert len(ids) == 5 and all(len(i) == 16 and i.replace("-", "").replace("_", "").isalnum() for i in ids)


def test_refused_without_consent_and_with_consent_refused(site, webm: bytes) -> None:
    client, data, _ = site
    pid = _participant(client, consent=False)
    before = _files(data)
    r = client.put(f"/api/participants/{pid}/answers/1", content=webm)
    assert r.status_code == 403 and "consent" in r.json()["detail"]
    r = client.post(f"/api/participants/{pid}/ipip50", json={"answers": {c: 3 for c in ITEM_COLUMNS}})
    assert r.status_code == 403
    r = client.post(f"/api/participants/{pid}/consent", json={"agree": False})
    assert r.status_code == 400
    assert _files(data) == before


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"x" * 300_000, 413, "too large"),
        (b"hello, this is a text file pretending to be a video" * 10, 415, "not a video"),
        (b"\x1a\x45\xdf\xa3" + b"\x00" * 500, 415, "not a video"),  # webm magic, but no video inside
    ],
)
def test_bad_uploads_are_refused(site, body: bytes, status: int, message: str) -> None:
    client, data, _ = site
    pid = _participant(client)
    before = _files(data)
    r = client.put(f"/api/participants/{pid}/answers/1", content=body, headers={"Content-Type": "video/webm"})
    assert r.status_code == status and message in r.json()["detail"]
    assert _files(data) == before


@pytest.mark.parametrize("pid", ["nope", "AAAAAAAAAAAAAAAA", "..", "..%2F..%2Fetc", "%2e%2e", "a" * 200])
def test_unknown_malformed_and_traversal_ids(site, webm: bytes, pid: str) -> None:
    client, data, tmp = site
    before = _files(tmp)
    r = client.put(f"/api/participants/{pid}/answers/1", content=webm)
    assert 400 <= r.status_code < 500
    r = client.post(f"/api/participants/{pid}/consent", json={"agree": True})
    assert 400 <= r.status_code < 500
    assert _files(tmp) == before


def test_question_number_out_of_range(site, webm: bytes) -> None:
    client, data, _ = site
    pid = _participant(client)
    before = _files(data)
    assert client.put(f"/api/participants/{pid}/answers/6", content=webm).status_code == 404
    assert client.put(f"/api/participants/{pid}/answers/0", content=webm).status_code == 404
    assert _files(data) == before


@pytest.mark.parametrize(
    ("change", "message"),
    [({"q17": None}, "q17 is missing"), ({"q3": 6}, "q3 must be an integer 1..5"), ({"q9": "often"}, "q9 is not a number"),
     ({"q99": 3}, "unknown items: q99")],
)
def test_bad_questionnaires_are_refused(site, change: dict, message: str) -> None:
    client, data, _ = site
    pid = _participant(client)
    answers = {c: 4 for c in ITEM_COLUMNS}
    for key, value in change.items():
        if value is None:
            answers.pop(key)
        else:
            answers[key] = value
    before = _files(data)
    r = client.post(f"/api/participants/{pid}/ipip50", json={"answers": answers})
    assert r.status_code == 422 and message in r.json()["detail"]
    assert _files(data) == before


def test_admin_needs_the_token_lists_exports_and_deletes(site, webm: bytes) -> None:
    client, data, export = site
    assert client.get("/api/admin/participants").status_code == 401
    assert client.get("/api/admin/participants", headers={"Authorization": "Bearer wrong"}).status_code == 401
    auth = {"Authorization": "Bearer s3cret"}
    done = _participant(client)
    for n in range(1, 6):
        client.put(f"/api/participants/{done}/answers/{n}", content=webm)
    client.post(f"/api/participants/{done}/ipip50", json={"answers": {c: 2 for c in ITEM_COLUMNS}})
    assert client.post(f"/api/participants/{done}/complete").status_code == 200
    unfinished = _participant(client)
    assert client.post(f"/api/participants/{unfinished}/complete").status_code == 409
    listed = {p["participant_id"]: p for p in client.get("/api/admin/participants", headers=auth).json()["participants"]}
    assert listed[done]["status"] == "complete" and listed[done]["answers"] == [1, 2, 3, 4, 5]
    assert listed[unfinished]["status"] == "consented"
    exported = client.post("/api/admin/export", headers=auth).json()
    assert exported["exported"] == 1 and (export / done / "answer_5.webm").is_file() and not (export / unfinished).exists()
    assert client.delete(f"/api/admin/participants/{done}", headers=auth).status_code == 200
    assert not (data / done).exists() and not (export / done).exists()
    assert client.delete("/api/admin/participants/../../x", headers=auth).status_code in (400, 404, 405)


def test_export_feeds_the_collected_adapter(site, webm: bytes) -> None:
    from sales_ability.data.datasets import collected_manifest

    client, _, export = site
    auth = {"Authorization": "Bearer s3cret"}
    pid = _participant(client)
    for n in range(1, 6):
        client.put(f"/api/participants/{pid}/answers/{n}", content=webm)
    client.post(f"/api/participants/{pid}/ipip50", json={"answers": {c: 5 for c in ITEM_COLUMNS}})
    client.post(f"/api/participants/{pid}/complete")
    client.post("/api/admin/export", headers=auth)
    manifest = collected_manifest(export)
    assert len(manifest) == 5 and set(manifest["participant_id"]) == {pid}


def test_optional_profile_is_validated_and_feeds_fairness_groups(site, webm: bytes) -> None:
    from sales_ability.data.datasets import collected_manifest

    client, data, export = site
    pid = _participant(client)
    before = _files(data)
    r = client.post(f"/api/participants/{pid}/profile", json={"profile": {"gender": "robot"}})
    assert r.status_code == 422 and "gender must be one of" in r.json()["detail"]
    r = client.post(f"/api/participants/{pid}/profile", json={"profile": {"shoe_size": "42"}})
    assert r.status_code == 422 and "unknown profile field" in r.json()["detail"]
    assert _files(data) == before and "profile" not in json.loads((data / pid / "metadata.json").read_text())
    assert client.post(f"/api/participants/{pid}/profile", json={"profile": {"gender": "female", "age_band": "prefer_not_to_say"}}).status_code == 200
    for n in range(1, 6):
        client.put(f"/api/participants/{pid}/answers/{n}", content=webm)
    client.post(f"/api/participants/{pid}/ipip50", json={"answers": {c: 4 for c in ITEM_COLUMNS}})
    client.post(f"/api/participants/{pid}/complete")
    client.post("/api/admin/export", headers={"Authorization": "Bearer s3cret"})
    manifest = collected_manifest(export)
    assert set(manifest["gender"]) == {"female"} and manifest["age_band"].isna().all()
