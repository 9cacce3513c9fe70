"""The collection website under a large upload, against a real `sales-ability collect serve` process:
the server's memory growth while one 150 MB answer streams in, and how long a page request takes during
that upload compared with an idle server (ratio measured in one run)."""

from __future__ import annotations

import concurrent.futures
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

CHUNK = 256 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_bytes(pid: int) -> int:
    """Resident memory of a process (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


@contextmanager
def collect_server(data_dir: Path, max_upload_mb: int) -> Iterator[tuple[str, subprocess.Popen]]:
    """``sales-ability collect serve`` on a free loopback port; stopped (by PID) on exit."""
    port = free_port()
    cli = str(Path(sys.executable).parent / "sales-ability")
    proc = subprocess.Popen([cli, "collect", "serve", "--data-dir", str(data_dir), "--export-dir", str(data_dir.parent / "export"),
                             "--port", str(port), "--max-upload-mb", str(max_upload_mb)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/api/questions", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"collect serve did not start on {url}")
            time.sleep(0.2)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def small_recording(folder: Path) -> bytes:
    """A valid 64-frame webm (what a warm-up upload sends, so FFmpeg's libraries are loaded before measuring)."""
    import numpy as np

    from sales_ability.data.video import write_video

    frames = [np.full((120, 160, 3), 40 + 2 * i, np.uint8) for i in range(64)]
    return write_video(folder / "warm.webm", frames, 5, codec="libvpx").read_bytes()  # 12.8 s: over the answer floor


def measure_upload(size_mb: int = 150, max_upload_mb: int = 200) -> dict:
    """Stream a ``size_mb`` answer (a valid recording padded with zeros: refused at the end as trailing data,
    after the whole body was received and checked) while sampling the server's memory and timing page
    requests. Returns the figures."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        recording = small_recording(tmp)
        with collect_server(tmp / "data", max_upload_mb) as (url, proc), httpx.Client(base_url=url, timeout=120) as client:
            pid = client.post("/api/participants", json={"agree": True}).json()["participant_id"]
            assert client.put(f"/api/participants/{pid}/answers/1", content=recording).status_code == 200  # warm-up
            idle = []
            for _ in range(20):
                started = time.perf_counter()
                client.get("/")
                idle.append(time.perf_counter() - started)
            baseline = rss_bytes(proc.pid)
            peak, during, done = baseline, [], threading.Event()

            def sample() -> None:
                nonlocal peak
                with httpx.Client(base_url=url, timeout=30) as pages:
                    while not done.is_set():
                        peak = max(peak, rss_bytes(proc.pid))
                        started = time.perf_counter()
                        status = pages.get("/").status_code
                        during.append((time.perf_counter() - started, status))
                        time.sleep(0.02)

            def body() -> Iterator[bytes]:
                yield recording
                zeros = b"\0" * CHUNK
                for _ in range((size_mb << 20) // CHUNK):
                    yield zeros

            watcher = threading.Thread(target=sample, daemon=True)
            watcher.start()
            started = time.perf_counter()
            response = client.put(f"/api/participants/{pid}/answers/2", content=body())
            upload_s = time.perf_counter() - started
            done.set()
            watcher.join()
            uploads = tmp / "data" / ".uploads"  # where answers are received
            leftovers = [p.name for p in (tmp / "data" / pid).iterdir() if p.name.startswith(".")]
            leftovers += [p.name for p in uploads.iterdir()] if uploads.is_dir() else []
    page_during = [d for d, _ in during]
    return {
        "upload_mb": size_mb, "upload_s": round(upload_s, 2), "status": response.status_code,
        "detail": response.json().get("detail", ""), "rss_growth_mb": round((peak - baseline) / 2**20, 1),
        "page_requests_during_upload": len(during), "page_statuses": sorted({s for _, s in during}),
        "page_ms_idle_median": round(1000 * statistics.median(idle), 1),
        "page_ms_during_median": round(1000 * statistics.median(page_during), 1) if during else None,
        "page_ms_during_max": round(1000 * max(page_during), 1) if during else None, "leftover_files": leftovers,
    }


def bomb_recording(folder: Path) -> bytes:
    """A 61-frame 1000x1000 VP8 WebM whose header is patched to declare 16000x16000 (decoding such a picture
    takes over a gigabyte)."""
    import numpy as np

    from sales_ability.data.video import write_video

    frames = [np.full((1000, 1000, 3), 3 * i, np.uint8) for i in range(61)]
    data = write_video(folder / "bomb.webm", frames, 15, codec="libvpx").read_bytes()
    for element in (b"\xb0", b"\xba"):  # PixelWidth, PixelHeight: 1000 -> 16000
        data = data.replace(element + b"\x82\x03\xe8", element + b"\x82\x3e\x80", 1)
    return data


def measure_bombs(n: int = 3) -> dict:
    """``n`` decompression bombs uploaded at once: the server's memory growth and CPU seconds, and a page
    request's time meanwhile."""
    import psutil

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        bomb, recording = bomb_recording(tmp), small_recording(tmp)
        with collect_server(tmp / "data", 100) as (url, proc), httpx.Client(base_url=url, timeout=120) as client:
            server = psutil.Process(proc.pid)
            pids = [client.post("/api/participants", json={"agree": True}).json()["participant_id"] for _ in range(n)]
            assert client.put(f"/api/participants/{pids[0]}/answers/1", content=recording).status_code == 200  # warm-up
            baseline, cpu_before = rss_bytes(proc.pid), sum(server.cpu_times()[:2])
            peak, done = baseline, threading.Event()

            def sample() -> None:
                nonlocal peak
                while not done.is_set():
                    peak = max(peak, rss_bytes(proc.pid))
                    time.sleep(0.01)

            watcher = threading.Thread(target=sample, daemon=True)
            watcher.start()
            started = time.perf_counter()
            barrier = threading.Barrier(n)

            def send(pid: str) -> httpx.Response:
                barrier.wait()
                with httpx.Client(base_url=url, timeout=120) as c:
                    return c.put(f"/api/participants/{pid}/answers/2", content=bomb)

            with concurrent.futures.ThreadPoolExecutor(n) as pool:
                answers = list(pool.map(send, pids))
            elapsed = time.perf_counter() - started
            page_started = time.perf_counter()
            client.get("/")
            page_ms = 1000 * (time.perf_counter() - page_started)
            done.set()
            watcher.join()
            cpu = sum(server.cpu_times()[:2]) - cpu_before
    return {"bombs": n, "bomb_kb": round(len(bomb) / 1024), "statuses": sorted({a.status_code for a in answers}),
            "detail": answers[0].json().get("detail", ""), "rss_growth_mb": round((peak - baseline) / 2**20, 1),
            "cpu_s": round(cpu, 2), "seconds": round(elapsed, 2), "page_ms_after": round(page_ms, 1)}


def _figures_table(title: str, rows: list[tuple[str, str]]):
    from rich.table import Table

    table = Table(title=title)
    table.add_column("figure")
    table.add_column("value", justify="right")
    for row in rows:
        table.add_row(*row)
    return table


def main() -> None:
    from rich.console import Console

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    f = measure_upload()
    rows = [("server memory growth during the upload", f"{f['rss_growth_mb']} MB"), ("upload time (loopback)", f"{f['upload_s']} s"),
            ("page request, idle server (median)", f"{f['page_ms_idle_median']} ms"),
            (f"page request during the upload (median of {f['page_requests_during_upload']})", f"{f['page_ms_during_median']} ms"),
            ("page request during the upload (max)", f"{f['page_ms_during_max']} ms")]
    if f["page_ms_during_median"]:
        rows.append(("during / idle (median)", f"{f['page_ms_during_median'] / max(f['page_ms_idle_median'], 0.01):.2f} x"))
    rows.append(("answer", f"{f['status']}: {f['detail']}"))
    Console().print(_figures_table(f"collection website: one {f['upload_mb']} MB upload to `sales-ability collect serve`", rows))
    b = measure_bombs()
    Console().print(_figures_table(
        f"{b['bombs']} decompression bombs at once ({b['bomb_kb']} KB WebM declaring 16000x16000)",
        [("server memory growth", f"{b['rss_growth_mb']} MB"), ("server CPU", f"{b['cpu_s']} s"),
         ("until all were answered", f"{b['seconds']} s"), ("answers", f"{b['statuses']}: {b['detail']}")]))


if __name__ == "__main__":
    main()
