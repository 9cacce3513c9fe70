"""The collection API: every bad input is refused with a 4xx and a clear message, and nothing is written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from sales_ability.collect.app import WebsiteSettings, create_app
from sales_ability.data.ipip50 import ITEM_COLUMNS
from sales_ability.data.video import write_video


@pytest.fixture(scope="module")
def webm(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("webm") / "answer.webm"
    frames = [np.full((120, 160, 3), 40 + 2 * i, np.uint8) for i in range(64)]  # 64 >= the 60 featurize needs
    return write_video(path, frames, 5, codec="libvpx").read_bytes()  # 12.8 s: over the 11.25 s answers need


@pytest.fixture()
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SALES_ABILITY_ADMIN_TOKEN", "s3cret-token-of-the-tests-0123456789")
    data = tmp_path / "data"
    client = TestClient(create_app(data, WebsiteSettings(export_dir=tmp_path / "export", max_upload_bytes=200_000,
                                                         create_per_minute=600, create_burst=100, max_open_per_address=1000)))
    return client, data, tmp_path / "export"


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def _participant(client: TestClient) -> str:
    r = client.post("/api/participants", json={"agree": True})
    assert r.status_code == 201, r.text
    return r.json()["participant_id"]


def _complete(client: TestClient, pid: str, webm: bytes, value: int = 3) -> None:
    for n in range(1, 6):
        assert client.put(f"/api/participants/{pid}/answers/{n}", content=webm).status_code == 200
    assert client.post(f"/api/participants/{pid}/ipip50", json={"answers": {c: value for c in ITEM_COLUMNS}}).status_code == 200
    assert client.post(f"/api/participants/{pid}/complete").status_code == 200


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
    ids = {_participant(client) for _ in range(5)}
    assert len(ids) == 5 and all(len(i) == 16 and i.replace("-", "").replace("_", "").isalnum() for i in ids)


@pytest.mark.parametrize("body", [None, {}, {"agree": False}, {"agree": "yes"}, {"agree": 1}, {"agree": "true"},
                                  {"agree": True, "profile": {"gender": "robot"}}, {"agree": True, "extra": 1}])
def test_nothing_is_stored_before_consent(site, body) -> None:
    """Consent is JSON ``true`` and creates the participant: before it no folder, file or user agent exists."""
    client, data, _ = site
    r = client.post("/api/participants", json=body, headers={"User-Agent": "probe/1.0"})
    assert r.status_code in (400, 422) and r.json()["detail"]
    assert isinstance(r.json()["detail"], str)  # one readable line, naming the field
    assert not any(data.iterdir())


def test_consent_creates_the_record_with_its_profile(site) -> None:
    client, data, _ = site
    r = client.post("/api/participants", json={"agree": True, "profile": {"gender": "male"}}, headers={"User-Agent": "UA"})
    pid = r.json()["participant_id"]
    assert _files(data / pid) == {"consent.json", "metadata.json"}
    meta = json.loads((data / pid / "metadata.json").read_text())
    assert meta["status"] == "consented" and meta["profile"] == {"gender": "male"} and "user_agent" not in meta  # not kept: the consent does not mention it
    assert client.get(f"/api/participants/{pid}").json() == {"status": "consented", "answers": [], "questionnaire": False}


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
    r = client.post(f"/api/participants/{pid}/profile", json={"profile": {"gender": "female"}})
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
    [({"q17": None}, "q17 is missing"), ({"q3": 6}, "q3 must be an integer 1..5 (got 6)"),
     ({"q9": "often"}, "q9 must be an integer 1..5 (got 'often')"), ({"q99": 3}, "unknown items: q99"),
     ({"q4": True}, "q4 must be an integer 1..5 (got True)"), ({"q5": "3"}, "q5 must be an integer 1..5 (got '3')"),
     ({"q6": 3.0}, "q6 must be an integer 1..5 (got 3.0)"), ({"q7": 10**400}, "q7 must be an integer 1..5 (got 100000000000…)"),
     ({"q8": -1}, "q8 must be an integer 1..5")],
)
def test_bad_questionnaires_are_refused(site, webm: bytes, change: dict, message: str) -> None:
    client, data, _ = site
    pid = _participant(client)
    for n in range(1, 6):
        client.put(f"/api/participants/{pid}/answers/{n}", content=webm)
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


def test_admin_needs_the_token_lists_exports_and_deletes(site, webm: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio
    import types

    from sales_ability.collect import app as website

    waits: list[float] = []  # what each failed attempt waits, recorded instead of slept (12.75 s in all)

    async def record(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(website, "asyncio", types.SimpleNamespace(**{**vars(asyncio), "sleep": record}))
    client, data, export = site
    assert client.get("/api/admin/participants").status_code == 401
    assert client.get("/api/admin/participants", headers={"Authorization": "Bearer wrong"}).status_code == 401
    for bare in ("s3cret-token-of-the-tests-0123456789", "bearer s3cret-token-of-the-tests-0123456789", "Basic s3cret-token-of-the-tests-0123456789", "Bearers3cret-token-of-the-tests-0123456789"):  # only the Bearer scheme
        assert client.get("/api/admin/participants", headers={"Authorization": bare}).status_code == 401
    assert waits == [0.25, 0.5, 1.0, 2.0, 4.0, 5.0]  # each failure answers more slowly, at most 5 s
    auth = {"Authorization": "Bearer s3cret-token-of-the-tests-0123456789"}
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
    auth = {"Authorization": "Bearer s3cret-token-of-the-tests-0123456789"}
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
    client.post("/api/admin/export", headers={"Authorization": "Bearer s3cret-token-of-the-tests-0123456789"})
    manifest = collected_manifest(export)
    assert set(manifest["gender"]) == {"female"} and manifest["age_band"].isna().all()


def test_a_complete_record_is_locked_and_never_dropped_from_the_export(site, webm: bytes) -> None:
    client, data, export = site
    auth = {"Authorization": "Bearer s3cret-token-of-the-tests-0123456789"}
    pid = _participant(client)
    _complete(client, pid, webm)
    assert client.post("/api/admin/export", headers=auth).json()["exported"] == 1
    before = {p: (data / pid / p).read_bytes() for p in _files(data / pid)}
    attempts = [
        client.put(f"/api/participants/{pid}/answers/2", content=webm),
        client.post(f"/api/participants/{pid}/ipip50", json={"answers": {c: 1 for c in ITEM_COLUMNS}}),
        client.post(f"/api/participants/{pid}/profile", json={"profile": {"gender": "male"}}),
        client.post(f"/api/participants/{pid}/complete"),
    ]
    for r in attempts:
        assert r.status_code == 409 and "participation is complete" in r.json()["detail"], r.text
    assert {p: (data / pid / p).read_bytes() for p in _files(data / pid)} == before
    assert client.get(f"/api/participants/{pid}").json()["status"] == "complete"
    again = client.post("/api/admin/export", headers=auth).json()
    assert again["exported"] == 1 and again["removed"] == [] and (export / pid / "ipip50.json").is_file()


def test_questionnaire_comes_after_the_answers_and_only_once(site, webm: bytes) -> None:
    client, data, _ = site
    pid = _participant(client)
    sheet = {"answers": {c: 4 for c in ITEM_COLUMNS}}
    r = client.post(f"/api/participants/{pid}/ipip50", json=sheet)
    assert r.status_code == 409 and "after the five answers (missing: [1, 2, 3, 4, 5])" in r.json()["detail"]
    for n in range(1, 6):
        client.put(f"/api/participants/{pid}/answers/{n}", content=webm)
    assert client.post(f"/api/participants/{pid}/ipip50", json=sheet).status_code == 200
    r = client.post(f"/api/participants/{pid}/ipip50", json={"answers": {c: 1 for c in ITEM_COLUMNS}})
    assert r.status_code == 409 and "already submitted" in r.json()["detail"]
    assert json.loads((data / pid / "ipip50.json").read_text())["answers"]["q1"] == 4


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory, webm: bytes) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("bad")
    frames = [np.full((120, 160, 3), 90, np.uint8)] * 4
    mp4 = write_video(folder / "ok.mp4", [np.full((120, 160, 3), 40 + 2 * i, np.uint8) for i in range(64)], 5,
                      codec="libx264").read_bytes()
    return {
        "four_frames": write_video(folder / "short.webm", frames, 15, codec="libvpx").read_bytes(),
        "zero_padded": webm + b"\x00" * 150_000,
        "cut_webm": webm[: len(webm) // 3],
        "cut_mp4": mp4[: len(mp4) - 500],
        "mp4_with_garbage": mp4 + b"garbage!" * 100,
        "mp4": mp4,
    }


@pytest.mark.parametrize(("name", "message"), [
    ("four_frames", "holds 4 frames; at least 60 are needed"),
    ("zero_padded", "bytes of data after the end of the recording"),
    ("cut_webm", "at least 60 are needed"),
    ("cut_mp4", "the recording is cut off"),
    ("mp4_with_garbage", "800 bytes of data after the end of the recording"),
])
def test_a_recording_must_decode_to_the_end_with_enough_frames(site, recordings: dict[str, bytes], name: str, message: str) -> None:
    client, data, _ = site
    pid = _participant(client)
    before = _files(data)
    r = client.put(f"/api/participants/{pid}/answers/1", content=recordings[name])
    assert r.status_code == 422 and message in r.json()["detail"], r.text
    assert _files(data) == before  # the received file is gone, nothing was placed


def test_an_mp4_take_replaces_a_webm_one(site, webm: bytes, recordings: dict[str, bytes]) -> None:
    client, data, _ = site
    pid = _participant(client)
    assert client.put(f"/api/participants/{pid}/answers/1", content=webm).json()["frames"] == 64
    r = client.put(f"/api/participants/{pid}/answers/1", content=recordings["mp4"])  # Safari records mp4
    assert r.status_code == 200 and r.json()["file"] == "answer_1.mp4"
    assert _files(data / pid) == {"answer_1.mp4", "consent.json", "metadata.json"}


def test_upload_limits_hold_without_a_content_length(site) -> None:
    """A chunked body has no declared size: the count stops it at the limit, and the partial file goes."""
    client, data, _ = site
    pid = _participant(client)
    before = _files(data)

    def body():
        for _ in range(40):
            yield b"\x1a\x45\xdf\xa3" + b"\x00" * 9996

    r = client.put(f"/api/participants/{pid}/answers/1", content=body())
    assert r.status_code == 413 and "over 200000 bytes" in r.json()["detail"]
    assert _files(data) == before
    r = client.put(f"/api/participants/{pid}/answers/7", content=body())  # checked before the body is read
    assert r.status_code == 404 and "there is no question 7" in r.json()["detail"]


def test_security_headers_and_no_public_docs(site, tmp_path: Path) -> None:
    client, _, _ = site
    for path in ("/", "/static/app.js", "/api/questions", "/api/nothing-here"):
        headers = client.get(path).headers
        assert "default-src 'self'" in headers["content-security-policy"] and "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff" and headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"
        assert "camera=(self)" in headers["permissions-policy"] and "microphone=(self)" in headers["permissions-policy"]
    assert client.get("/api/docs").status_code == 404 and client.get("/api/openapi.json").status_code == 404
    with_docs = TestClient(create_app(tmp_path / "d2", WebsiteSettings(docs=True)))
    assert with_docs.get("/api/docs").status_code == 200 and with_docs.get("/api/openapi.json").status_code == 200


def test_participant_creation_is_rate_limited_per_address(tmp_path: Path) -> None:
    client = TestClient(create_app(tmp_path / "data", WebsiteSettings(create_per_minute=1, create_burst=2)))
    assert [client.post("/api/participants", json={"agree": True}).status_code for _ in range(2)] == [201, 201]
    r = client.post("/api/participants", json={"agree": True})
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1 and "too many new participants" in r.json()["detail"]
    assert len(list((tmp_path / "data").iterdir())) == 2


def test_purge_removes_only_stale_unfinished_participants(site, webm: bytes, tmp_path: Path) -> None:
    import subprocess
    import sys

    client, data, _ = site
    cli = str(Path(sys.executable).parent / "sales-ability")
    old_unfinished, old_complete, new_unfinished = (_participant(client) for _ in range(3))
    _complete(client, old_complete, webm)
    for pid in (old_unfinished, old_complete):  # consented 40 days ago
        meta = json.loads((data / pid / "metadata.json").read_text())
        meta["created"] = "2020-01-01T00:00:00+00:00"
        (data / pid / "metadata.json").write_text(json.dumps(meta))
    listed = {p["participant_id"]: p["stale"] for p in
              client.get("/api/admin/participants", headers={"Authorization": "Bearer s3cret-token-of-the-tests-0123456789"}).json()["participants"]}
    assert listed == {old_unfinished: True, old_complete: False, new_unfinished: False}
    result = subprocess.run([cli, "collect", "purge", "--older-than", "30", "--data-dir", str(data)],
                            capture_output=True, text=True, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert f"removed unfinished participant {old_unfinished}" in output and "purged 1" in output
    assert sorted(p.name for p in data.iterdir() if not p.name.startswith(".")) == sorted([old_complete, new_unfinished])
    assert "--older-than" in subprocess.run([cli, "collect", "purge", "--help"], capture_output=True, text=True).stdout


def test_screening_publishes_into_the_inbox_and_withdrawal_calls_the_erasure(tmp_path: Path, webm: bytes,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    monkeypatch.setenv("SALES_ABILITY_ADMIN_TOKEN", "s3cret-token-of-the-tests-0123456789")
    withdrawn: list[str] = []
    client = TestClient(create_app(tmp_path / "site", WebsiteSettings(mode="screening", inbox=tmp_path / "inbox",
                                                                      max_upload_bytes=200_000), on_withdraw=withdrawn.append))
    assert client.get("/api/questions").json()["mode"] == "screening"
    pid = _participant(client)
    for n in range(1, 6):
        assert client.put(f"/api/participants/{pid}/answers/{n}", content=webm).status_code == 200
        assert not (tmp_path / "inbox" / pid).exists()  # nothing reaches the inbox before completion
    assert client.post(f"/api/participants/{pid}/ipip50", json={"answers": {c: 3 for c in ITEM_COLUMNS}}).status_code == 404
    assert client.post(f"/api/participants/{pid}/complete").status_code == 200
    published = tmp_path / "inbox" / pid
    assert json.loads((published / "complete.json").read_text())["answers"] == [1, 2, 3, 4, 5]
    assert sorted(p.name for p in published.iterdir()) == [
        "answer_1.webm", "answer_2.webm", "answer_3.webm", "answer_4.webm", "answer_5.webm", "complete.json",
        "consent.json", "metadata.json"]
    import av

    with av.open(str(published / "answer_1.webm")) as container:  # remuxed at the door: a duration in the header
        assert container.duration is not None
    headers = {"Authorization": "Bearer s3cret-token-of-the-tests-0123456789"}
    assert client.delete(f"/api/admin/participants/{pid}", headers=headers).status_code == 200
    assert withdrawn == [pid] and not published.exists() and not (tmp_path / "site" / pid).exists()


def test_a_withdrawal_the_database_could_not_finish_answers_503_and_a_retry_completes_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SALES_ABILITY_ADMIN_TOKEN", "s3cret-token-of-the-tests-0123456789")
    erased: list[str] = []
    busy = [True]

    def erasure(pid: str) -> None:  # the results database is locked on the first try
        if busy.pop() if busy else False:
            raise TimeoutError("database is locked")
        erased.append(pid)

    client = TestClient(create_app(tmp_path / "site", WebsiteSettings(mode="screening", inbox=tmp_path / "inbox"), on_withdraw=erasure))
    pid = _participant(client)
    assert client.post(f"/api/participants/{pid}/profile", json={"profile": {"gender": "female"}}).status_code == 422
    headers = {"Authorization": "Bearer s3cret-token-of-the-tests-0123456789"}
    first = client.delete(f"/api/admin/participants/{pid}", headers=headers)
    assert first.status_code == 503 and "same request" in first.json()["detail"] and first.headers["Retry-After"]
    assert not (tmp_path / "site" / pid).exists() and erased == []
    assert client.delete(f"/api/admin/participants/{pid}", headers=headers).status_code == 200 and erased == [pid]
    assert client.delete(f"/api/admin/participants/{pid}", headers=headers).status_code == 404


def test_screening_without_an_outbox_is_refused_at_start(tmp_path: Path) -> None:
    from tests.conftest import run_cli

    env_free = run_cli("collect", "serve", "--mode", "screening", "--inbox", str(tmp_path / "inbox"), cwd=tmp_path)
    assert env_free.returncode == 2 and "--outbox" in env_free.stderr


def test_website_settings_refuse_a_bad_value_by_name() -> None:
    from pydantic import ValidationError

    for bad in ({"mode": "screen"}, {"max_checks": 0}, {"max_upload_mb": 5}):
        with pytest.raises(ValidationError, match=next(iter(bad))):
            WebsiteSettings(**bad)


def test_an_answer_too_short_to_score_is_refused_and_the_page_says_the_floor(site, tmp_path: Path) -> None:
    """One rule with featurize (data/segments.py): an answer under 0.75 x the 15 s training segments is
    refused at upload with the reason, and the page's limits name the floor before anyone records."""
    client, _, _ = site
    limits = client.get("/api/questions").json()["limits"]
    assert limits["min_seconds"] == 11.25 and limits["stop_after_seconds"] == 12.25
    short = write_video(tmp_path / "short.webm", [np.full((120, 160, 3), 40 + i, np.uint8) for i in range(64)], 15,
                        codec="libvpx")  # 64 frames, 4.3 s: enough frames, too short an answer
    pid = _participant(client)
    r = client.put(f"/api/participants/{pid}/answers/1", content=short.read_bytes())
    assert r.status_code == 422 and "shorter than 11.25 s cannot be scored" in r.json()["detail"], r.text
    assert client.get(f"/api/participants/{pid}").json()["answers"] == []  # nothing kept of the refused take
