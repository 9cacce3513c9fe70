"""The website's second round, against a real uvicorn server on loopback: withdrawal wins every race,
recordings are checked for what they cost, requests are bounded. Races run a fixed number of rounds, each
started together by a barrier (no sleeping)."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
import uvicorn

from benchmarks.bench_collect import free_port
from sales_ability.collect.app import ConfigurationError, WebsiteSettings, create_app
from sales_ability.collect.server import server_config
from sales_ability.collect.storage import ParticipantStore
from sales_ability.collect.video_check import RecordingError, RecordingLimits, check_recording
from sales_ability.data.ipip50 import ITEM_COLUMNS
from sales_ability.data.video import write_video

TOKEN = "hardening-tests-admin-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ROUNDS = 30


@pytest.fixture(scope="module")
def take(tmp_path_factory: pytest.TempPathFactory) -> Path:
    frames = [np.full((120, 160, 3), 40 + 2 * i, np.uint8) for i in range(64)]
    return write_video(tmp_path_factory.mktemp("take") / "answer.webm", frames, 5, codec="libvpx")  # 12.8 s


def serve(app, **config) -> tuple[str, uvicorn.Server, threading.Thread]:
    port = free_port()
    srv = uvicorn.Server(server_config(app, "127.0.0.1", port, **config))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.02)
    return f"http://127.0.0.1:{port}", srv, thread


@pytest.fixture()
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SALES_ABILITY_ADMIN_TOKEN", TOKEN)
    app = create_app(tmp_path / "data", WebsiteSettings(export_dir=tmp_path / "export", create_per_minute=6000,
                                                        create_burst=1000, max_open_per_address=10_000, admin_delay_s=0.001))
    url, srv, thread = serve(app)
    yield url, tmp_path
    srv.should_exit = True
    thread.join(timeout=10)


def _ready(data: Path, take: Path, ipip: bool = False) -> str:
    """A participant with five answers (and the questionnaire), made through the store as the server would."""
    store = ParticipantStore(data)
    pid = store.create(True)
    for n in range(1, 6):
        received = store.upload_path(pid, n)
        shutil.copy(take, received)
        store.place_answer(pid, n, received, ".webm")
    if ipip:
        store.save_ipip(pid, {c: 3 for c in ITEM_COLUMNS}, {})
    return pid


def _together(*calls):
    """Run the calls at the same moment (a barrier), return their responses."""
    barrier = threading.Barrier(len(calls))

    def go(call):
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return [f.result() for f in [pool.submit(go, c) for c in calls]]


@pytest.mark.parametrize("racer", ["ipip50", "complete"])
def test_withdrawal_always_wins_against_the_questionnaire_or_completion(site, take: Path, racer: str) -> None:
    url, tmp = site
    data, export = tmp / "data", tmp / "export"
    with httpx.Client(base_url=url, timeout=30) as client:
        for _ in range(ROUNDS):
            pid = _ready(data, take, ipip=racer == "complete")
            body = {"answers": {c: 3 for c in ITEM_COLUMNS}} if racer == "ipip50" else None
            other, withdrawal = _together(lambda: client.post(f"/api/participants/{pid}/{racer}", json=body),
                                          lambda: client.delete(f"/api/admin/participants/{pid}", headers=AUTH))
            assert withdrawal.status_code == 200, withdrawal.text
            assert other.status_code in (200, 404), other.text  # before the withdrawal, or it found nobody
            assert not (data / pid).exists()
        assert client.post("/api/admin/export", headers=AUTH).json()["exported"] == 0
        assert not [p for p in data.iterdir() if not p.name.startswith(".")] and not any(export.iterdir())
        assert ParticipantStore(data).purge(0) == []


def test_withdrawal_during_an_export_leaves_nothing_in_the_tracked_folder(site, take: Path) -> None:
    url, tmp = site
    data, export = tmp / "data", tmp / "export"
    store = ParticipantStore(data)
    with httpx.Client(base_url=url, timeout=60) as client:
        for _ in range(10):
            pids = [_ready(data, take, ipip=True) for _ in range(3)]
            for pid in pids:
                store.complete(pid)
                (data / pid / "padding.bin").write_bytes(b"\0" * 4_000_000)  # a copy that takes a while
            gone = pids[1]
            exported, withdrawal = _together(lambda: client.post("/api/admin/export", headers=AUTH),
                                             lambda: client.delete(f"/api/admin/participants/{gone}", headers=AUTH))
            assert exported.status_code == 200 and withdrawal.status_code == 200, (exported.text, withdrawal.text)
            assert not (export / gone).exists() and not (data / gone).exists()
            assert not list(export.glob(".*")) and not (tmp / ".export.staging").exists()
        again = client.post("/api/admin/export", headers=AUTH).json()
        assert again["exported"] == 20 and len(list(export.iterdir())) == 20


def test_two_takes_of_one_answer_at_once_never_lose_it(site, take: Path, tmp_path: Path) -> None:
    url, tmp = site
    mp4 = write_video(tmp_path / "answer.mp4", [np.full((120, 160, 3), 90, np.uint8)] * 64, 5)  # 12.8 s
    with httpx.Client(base_url=url, timeout=30) as client:
        for _ in range(ROUNDS):
            pid = client.post("/api/participants", json={"agree": True}).json()["participant_id"]
            a, b = _together(lambda: client.put(f"/api/participants/{pid}/answers/2", content=take.read_bytes()),
                             lambda: client.put(f"/api/participants/{pid}/answers/2", content=mp4.read_bytes()))
            assert sorted([a.status_code, b.status_code]) in ([200, 200], [200, 409]), (a.text, b.text)
            assert len(list((tmp / "data" / pid).glob("answer_2.*"))) == 1  # one take, never none


def test_checks_are_bounded_in_number_and_one_upload_per_answer(tmp_path: Path, take: Path, monkeypatch) -> None:
    import sales_ability.collect.app as site_app

    entered, release = threading.Event(), threading.Event()

    def slow_check(path, min_frames, limits):
        entered.set()
        release.wait(30)
        return check_recording(path, min_frames, limits)

    monkeypatch.setattr(site_app, "check_recording", slow_check)
    url, srv, thread = serve(create_app(tmp_path / "data", WebsiteSettings(max_checks=1)))
    try:
        with httpx.Client(base_url=url, timeout=60) as client, ThreadPoolExecutor(1) as pool:
            pid = client.post("/api/participants", json={"agree": True}).json()["participant_id"]
            first = pool.submit(client.put, f"/api/participants/{pid}/answers/1", content=take.read_bytes())
            assert entered.wait(30)
            busy = client.put(f"/api/participants/{pid}/answers/2", content=take.read_bytes())
            assert busy.status_code == 503 and busy.headers["retry-after"] == "5"
            same = client.put(f"/api/participants/{pid}/answers/1", content=take.read_bytes())
            assert same.status_code == 409 and "already being uploaded" in same.text
            release.set()
            assert first.result().status_code == 200
            assert not list((tmp_path / "data" / ".uploads").iterdir())  # no temporary file left
    finally:
        release.set()
        srv.should_exit = True
        thread.join(timeout=10)


def _recording(tmp: Path, name: str, n: int, fps: int, size=(120, 160)) -> Path:
    return write_video(tmp / name, [np.full((*size, 3), (5 * i) % 256, np.uint8) for i in range(n)], fps, codec="libvpx")


def test_recordings_are_refused_for_what_they_would_cost_or_for_being_no_recording(tmp_path: Path, take: Path) -> None:
    def refused(path: Path, limits: RecordingLimits | None = None) -> str:
        with pytest.raises(RecordingError) as err:
            check_recording(path, 60, limits)
        assert err.value.status == 422
        return str(err.value)

    bomb = tmp_path / "bomb.webm"  # a small file whose header declares a 16000-pixel-wide picture
    wide = write_video(tmp_path / "wide.webm", [np.full((200, 1000, 3), 90, np.uint8)] * 61, 15, codec="libvpx").read_bytes()
    bomb.write_bytes(wide.replace(b"\xb0\x82\x03\xe8", b"\xb0\x82\x3e\x80", 1))  # PixelWidth 1000 -> 16000
    # "the picture is ..." comes from the header check: a decoded frame would say "a frame is ..."
    assert refused(bomb).startswith("the picture is 16000x200, larger than")
    assert "longer than the 10 s" in refused(_recording(tmp_path, "long.webm", 16 * 15, 15), RecordingLimits(max_seconds=10))
    assert "frames/s" in refused(_recording(tmp_path, "fast.webm", 61, 1000))  # 61 frames in 0.06 s
    full = _recording(tmp_path, "full.webm", 300, 15).read_bytes()
    cut = tmp_path / "cut.webm"
    cut.write_bytes(full[: int(len(full) * 0.8)])
    assert "cut off" in refused(cut)
    twice = tmp_path / "twice.webm"
    twice.write_bytes(take.read_bytes() + take.read_bytes())  # two recordings in one upload
    assert "after the end of the recording" in refused(twice) or "not one recording" in refused(twice)


def test_two_frames_stamped_the_same_millisecond_are_one_recording(tmp_path: Path, take: Path) -> None:
    """Chrome's MediaRecorder on a busy machine stamps two frames alike (seen in CI); that is still one take."""
    import av

    tied = tmp_path / "tied.webm"
    with av.open(str(take)) as source, av.open(str(tied), "w", format="webm") as out:
        stream = out.add_stream_from_template(source.streams.video[0])
        previous = None
        for n, packet in enumerate(p for p in source.demux(source.streams.video[0]) if p.size):
            if n == 42:
                packet.pts = packet.dts = previous
            previous = packet.pts
            packet.stream = stream
            out.mux(packet)
    times = []
    with av.open(str(tied)) as container:
        times = [frame.time for frame in container.decode(video=0)]
    assert times[41] == times[42]  # the file really holds the tie
    assert check_recording(tied, 60).frames == 64


def test_a_cut_chrome_recording_is_refused(chrome_takes: list[Path], tmp_path: Path) -> None:
    full = chrome_takes[2].read_bytes()  # 9 s of Chrome's MediaRecorder: no Duration to compare with
    assert check_recording(chrome_takes[2], 60).frames > 200
    for name, data in (("eighty.webm", full[: int(len(full) * 0.8)]), ("short.webm", full[:-500])):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(RecordingError, match="cut off"):
            check_recording(tmp_path / name, 60)


def test_request_bounds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SALES_ABILITY_ADMIN_TOKEN", TOKEN)
    app = create_app(tmp_path / "data", WebsiteSettings(create_burst=3, create_per_minute=0.1, max_open_per_address=10,
                                                        admin_delay_s=0.001, body_timeout_s=1.0))
    url, srv, thread = serve(app, header_timeout_s=1.0)
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            huge = b'{"agree": true, "pad": "' + b"x" * 20_000_000 + b'"}'
            r = client.post("/api/participants", content=huge, headers={"content-type": "application/json"})
            assert r.status_code == 413 and not list((tmp_path / "data").iterdir())
            forged = [client.post("/api/participants", json={"agree": True}, headers={"X-Forwarded-For": f"10.0.0.{i}"})
                      for i in range(4)]  # proxy headers are not trusted by default: one address (burst 3, one spent above)
            assert [f.status_code for f in forged] == [201, 201, 429, 429]
            late = client.post("/api/participants", content=huge, headers={"content-type": "application/json"})
            assert late.status_code == 429  # the rate limit answers before any body is read
            for _ in range(10):
                assert client.get("/api/admin/participants", headers={"Authorization": "Bearer wrong"}).status_code == 401
            locked = client.get("/api/admin/participants", headers=AUTH)
            assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0  # even the right token, for a while
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as sock:  # headers that never end
            sock.sendall(b"GET /api/questions HTTP/1.1\r\nHost: x\r\n")
            sock.settimeout(10)
            assert sock.recv(1024) == b""  # closed after header_timeout_s
        with socket.create_connection((host, int(port))) as sock:  # a body that stalls
            sock.sendall(b"POST /api/participants/abcdefghijklmnop/profile HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"profile\"")
            sock.settimeout(10)
            assert sock.recv(1024).startswith(b"HTTP/1.1 408")
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


def test_open_participants_and_disk_are_budgeted(tmp_path: Path, take: Path) -> None:
    from fastapi.testclient import TestClient

    client = TestClient(create_app(tmp_path / "data", WebsiteSettings(max_open_per_address=2)))
    assert [client.post("/api/participants", json={"agree": True}).status_code for _ in range(3)] == [201, 201, 429]
    full_disk = TestClient(create_app(tmp_path / "d2", WebsiteSettings(min_free_bytes=10**18)))
    pid = full_disk.post("/api/participants", json={"agree": True}).json()["participant_id"]
    assert full_disk.put(f"/api/participants/{pid}/answers/1", content=take.read_bytes()).status_code == 507


def test_weak_admin_tokens_are_refused_at_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for weak in ("a", "change-me-collection-admin-token", "x" * 31):
        monkeypatch.setenv("SALES_ABILITY_ADMIN_TOKEN", weak)
        with pytest.raises(ConfigurationError):
            create_app(tmp_path / "data")
    monkeypatch.setenv("SALES_ABILITY_ADMIN_TOKEN", "x" * 32)
    create_app(tmp_path / "data")


def test_access_log_keeps_no_participant_codes() -> None:
    import logging

    from sales_ability.collect.server import _RedactParticipantCodes

    record = logging.LogRecord("uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d', (
        "127.0.0.1:5000", "PUT", "/api/participants/Ab3_x-Yz09qwErTy/answers/2", "1.1", 200), None)
    _RedactParticipantCodes().filter(record)
    assert "Ab3_x-Yz09qwErTy" not in record.getMessage() and "/api/participants/<code>/answers/2" in record.getMessage()
