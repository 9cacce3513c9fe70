"""The collection website under a large upload, against a real `sales-ability collect serve` process:
the server's memory growth while one 150 MB answer streams in, and how long a page request takes during
that upload compared with an idle server (ratio measured in one run)."""

from __future__ import annotations

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
    return write_video(folder / "warm.webm", frames, 15, codec="libvpx").read_bytes()


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
            leftovers = [p.name for p in (tmp / "data" / pid).iterdir() if p.name.startswith(".")]
    page_during = [d for d, _ in during]
    return {
        "upload_mb": size_mb, "upload_s": round(upload_s, 2), "status": response.status_code,
        "detail": response.json().get("detail", ""), "rss_growth_mb": round((peak - baseline) / 2**20, 1),
        "page_requests_during_upload": len(during), "page_statuses": sorted({s for _, s in during}),
        "page_ms_idle_median": round(1000 * statistics.median(idle), 1),
        "page_ms_during_median": round(1000 * statistics.median(page_during), 1) if during else None,
        "page_ms_during_max": round(1000 * max(page_during), 1) if during else None, "leftover_files": leftovers,
    }


def main() -> None:
    from rich.console import Console
    from rich.table import Table

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    figures = measure_upload()
    table = Table(title=f"collection website: one {figures['upload_mb']} MB upload to `sales-ability collect serve`")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row("server memory growth during the upload", f"{figures['rss_growth_mb']} MB")
    table.add_row("upload time (loopback)", f"{figures['upload_s']} s")
    table.add_row("page request, idle server (median)", f"{figures['page_ms_idle_median']} ms")
    table.add_row(f"page request during the upload (median of {figures['page_requests_during_upload']})",
                  f"{figures['page_ms_during_median']} ms")
    table.add_row("page request during the upload (max)", f"{figures['page_ms_during_max']} ms")
    if figures["page_ms_during_median"]:
        table.add_row("during / idle (median)", f"{figures['page_ms_during_median'] / max(figures['page_ms_idle_median'], 0.01):.2f} x")
    table.add_row("answer", f"{figures['status']}: {figures['detail']}")
    Console().print(table)


if __name__ == "__main__":
    main()
