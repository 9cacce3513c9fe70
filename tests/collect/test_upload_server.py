"""A 150 MB answer streamed to a real `sales-ability collect serve` process: memory stays flat, pages keep
answering during the upload, and the refused upload leaves nothing behind. (Latency figures: `make bench`.)"""

from benchmarks.bench_collect import measure_upload


def test_a_150_mb_upload_streams_to_disk_with_flat_memory() -> None:
    figures = measure_upload(size_mb=150, max_upload_mb=200)
    assert figures["rss_growth_mb"] < 64, figures  # held in memory, the body alone would add 150 MB
    assert figures["status"] == 422 and "bytes of data after the end of the recording" in figures["detail"], figures
    assert figures["page_requests_during_upload"] >= 3 and figures["page_statuses"] == [200], figures
    assert figures["leftover_files"] == [], figures  # the received file was removed when it failed the check
