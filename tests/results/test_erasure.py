"""Erasure that cannot overreach, fall short or be undone, and a listing that one bad entry cannot stop (#30).

Each test replays one failure seen on the batch's own functions, in the order a race takes."""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import signal
import threading
from pathlib import Path

import pytest
from sqlalchemy import select

from sales_ability.knowledge.rate import paper_knowledge_base
from sales_ability.results import store as db
from sales_ability.operations.batch import list_new_applicants, merge_shards, score_shard
from sales_ability.results.erasure import ErasureError, UnknownApplicant, erase_applicant
from tests.results.test_results_db import _traces


def _copy(scored: dict, tmp_path: Path) -> tuple[Path, Path, str]:
    """The scored inbox and its shards, copied, with the shards' paths pointing into the copy."""
    import pandas as pd

    inbox, outbox = tmp_path / "inbox", tmp_path / "outbox"
    shutil.copytree(scored["inbox"], inbox)
    for shard in scored["shards"]:
        copy = Path(shutil.copytree(shard, outbox / "shards" / Path(shard).name))
        done = (copy / "done.json").read_text().replace(str(scored["inbox"]), str(inbox))
        (copy / "done.json").write_text(done)
        results = pd.read_parquet(copy / "results.parquet")
        results["source"] = results["source"].str.replace(str(scored["inbox"]), str(inbox), regex=False)
        results.to_parquet(copy / "results.parquet", index=False)
    return inbox, outbox, f"sqlite:///{tmp_path / 'e.db'}"


def _shards(outbox: Path) -> list[str]:
    return sorted(str(p) for p in (outbox / "shards").iterdir())


def _applicants(url: str) -> set[str]:
    with db.engine(url).connect() as conn:
        return {r.applicant_id for r in conn.execute(select(db.applicants.c.applicant_id))}


@pytest.mark.parametrize("bad", ["", " ", ".", "..", "../canary", "ann_k/answer_1.mp4", "a\0b"])
def test_an_id_that_could_name_a_path_erases_nothing(scored: dict, tmp_path: Path, bad: str) -> None:
    inbox, outbox, url = _copy(scored, tmp_path)
    (tmp_path / "canary").mkdir()
    before = sorted(p.name for p in inbox.rglob("*"))
    with pytest.raises(ErasureError):
        erase_applicant(bad, url, inbox, outbox)
    assert sorted(p.name for p in inbox.rglob("*")) == before and (tmp_path / "canary").is_dir()


def test_an_unknown_id_erases_nothing_and_says_so(scored: dict, tmp_path: Path) -> None:
    from tests.conftest import run_cli

    inbox, outbox, url = _copy(scored, tmp_path)
    with pytest.raises(UnknownApplicant, match="nothing erased"):
        erase_applicant("zoe", url, inbox, outbox)
    with db.engine(url).connect() as conn:
        assert conn.execute(select(db.tombstones)).fetchall() == []  # no tombstone for no one
    done = run_cli("applicants", "delete", "", "--inbox", str(inbox), "--database-url", url)  # an unset variable
    assert done.returncode == 2 and "empty" in done.stdout + done.stderr
    assert (inbox / "ann_k").is_dir() and (inbox / "bob_k").is_dir() and (inbox / "carl.mp4").is_file()


def test_a_loose_video_never_shadows_a_folder_and_its_erasure_leaves_the_folder(scored: dict, tmp_path: Path) -> None:
    inbox, outbox, url = _copy(scored, tmp_path)
    merge_shards(_shards(outbox), outbox, scored["kb"], scored["model"], url, "run-1", inbox=inbox)
    (inbox / "carl").mkdir()  # another person's folder, named like the loose video already scored
    shutil.copy(inbox / "ann_k" / "answer_1.mp4", inbox / "carl" / "answer_1.mp4")
    (inbox / "carl" / "complete.json").write_text("{}")
    listing = list_new_applicants(inbox, outbox, 8, database_url=url)
    [shard] = listing["shards"]
    [folder_applicant] = shard["applicants"]
    assert folder_applicant["applicant_id"].startswith("carl~")  # scored, under a name of its own
    done = erase_applicant("carl", url)  # the loose video's applicant, no places given: the run recorded them
    assert not (inbox / "carl.mp4").exists() and (inbox / "carl" / "answer_1.mp4").is_file()
    assert done.rows["applicants"] == 1 and done.warnings == []


def test_erasure_without_places_reaches_what_the_batch_run_recorded(scored: dict, tmp_path: Path) -> None:
    inbox, outbox, url = _copy(scored, tmp_path)
    merge_shards(_shards(outbox), outbox, scored["kb"], scored["model"], url, "run-d", inbox=inbox)
    assert _traces("ann_k", url, [inbox, outbox])
    done = erase_applicant("ann_k", url, kb=paper_knowledge_base())  # no --inbox, no --outbox
    assert _traces("ann_k", url, [inbox, outbox]) == [] and done.reports_rewritten
    assert _traces("bob_k", url, [inbox, outbox])  # the others stay


def test_a_withdrawal_before_the_shard_starts_loses_only_that_applicant(scored: dict, tmp_path: Path) -> None:
    inbox, outbox, url = _copy(scored, tmp_path)
    shutil.rmtree(outbox)
    [shard] = list_new_applicants(inbox, outbox, 8, database_url=url)["shards"]  # ann, bob and carl together
    erase_applicant("ann_k", url, inbox, outbox, request="website")  # listed, not scored yet
    folder = score_shard(shard, outbox, scored["kb"], scored["model"], database_url=url)
    counts = merge_shards([folder], outbox, scored["kb"], scored["model"], url, "run-w", inbox=inbox)
    assert _applicants(url) == {"bob_k", "carl"} and counts["applicants_new"] == 2
    assert _traces("ann_k", url, [inbox, outbox]) == []


@pytest.mark.parametrize("when", ["shard running", "shard finished"])
def test_a_withdrawal_while_the_run_is_in_flight_is_never_merged_back(scored: dict, tmp_path: Path, when: str) -> None:
    inbox, outbox, url = _copy(scored, tmp_path)
    shards = _shards(outbox)
    ann = next(Path(s) for s in shards if "ann_k" in (Path(s) / "done.json").read_text())
    if when == "shard running":  # its done.json not written yet: the erasure cannot see the shard's rows
        (ann / "done.json").rename(ann / "done.later")
    erase_applicant("ann_k", url, inbox, outbox, request="website")
    if when == "shard running":
        (ann / "done.later").rename(ann / "done.json")  # the shard finishes, with ann's rows in it
    counts = merge_shards(shards, outbox, scored["kb"], scored["model"], url, "run-r", inbox=inbox)
    assert _applicants(url) == {"bob_k", "carl"}  # the others merged, ann not back
    assert counts["withdrawn_in_flight"] == (1 if when == "shard running" else 0)
    assert _traces("ann_k", url, [inbox, outbox]) == []  # nor left in the shard's files
    assert list_new_applicants(inbox, outbox, 8, database_url=url)["shards"] == []


def test_the_same_person_published_again_after_an_erasure_is_scored_as_new(scored: dict, tmp_path: Path) -> None:
    inbox, outbox, url = _copy(scored, tmp_path)
    merge_shards(_shards(outbox), outbox, scored["kb"], scored["model"], url, "run-1", inbox=inbox)
    saved = tmp_path / "ann_again"
    shutil.copytree(inbox / "ann_k", saved)
    erase_applicant("ann_k", url, inbox, outbox)
    shutil.copytree(saved, inbox / "ann_k")  # the tombstone only stops shards listed before the erasure
    [shard] = list_new_applicants(inbox, outbox, 8, database_url=url)["shards"]
    merge_shards([score_shard(shard, outbox, scored["kb"], scored["model"], database_url=url)], outbox, scored["kb"],
                 scored["model"], url, "run-2", inbox=inbox)
    assert _applicants(url) == {"ann_k", "bob_k", "carl"}


def _alarm(signum, frame):  # noqa: ARG001 - signal handler signature
    raise TimeoutError("the listing hung")


def test_one_bad_entry_in_the_inbox_stops_nothing(scored: dict, tmp_path: Path) -> None:
    inbox, outbox, url = _copy(scored, tmp_path)
    shutil.rmtree(outbox)
    recording = inbox / "ann_k" / "answer_1.mp4"
    for folder in ("fifo_k", "deep/ann_k", "links_k", ".staging_k.tmp"):
        (inbox / folder).mkdir(parents=True)
        (inbox / folder / "complete.json").write_text("{}")
    os.mkfifo(inbox / "fifo_k" / "answer_1.mp4")  # a FIFO named like an answer: reading it would hang
    shutil.copy(recording, inbox / "deep" / "ann_k" / "answer_1.mp4")  # a second folder named ann_k
    (inbox / "links_k" / "answer_1.mp4").symlink_to(recording)  # another applicant's recording
    (inbox / "links_k" / "answer_2.mp4").symlink_to(tmp_path / "elsewhere.mp4")
    shutil.copy(recording, tmp_path / "elsewhere.mp4")
    shutil.copy(recording, inbox / ".staging_k.tmp" / "answer_1.mp4")  # the website's staging copy
    (inbox / os.fsdecode(b"bad\xffname")).mkdir()
    shutil.copy(recording, inbox / os.fsdecode(b"bad\xffname") / "answer_1.mp4")
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(120)
    try:
        listing = list_new_applicants(inbox, outbox, 1, database_url=url, max_shards=3, run_id="run-bad")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    listed = {a["applicant_id"]: a for s in listing["shards"] for a in s["applicants"]}
    assert len(listing["shards"]) == 3 and listing["carried_over"] == 1  # capped; the rest wait a run
    every = {**listed, **{f"later{i}": None for i in range(listing["carried_over"])}}
    assert len([a for a in every if a.startswith("ann_k")]) == 2 and "ann_k" not in every  # two people, two names
    assert not any("staging" in a or "fifo" in a or "links" in a for a in every)
    reasons = {Path(r["source"]).name: r["reason"] for r in listing["rejected"]}
    assert "not a regular file" in reasons["answer_1.mp4"] or "symbolic link" in reasons["answer_1.mp4"]
    assert any("symbolic link" in r for r in reasons.values()) and any("FIFO" in r for r in reasons.values())
    assert any("UTF-8" in r and "\\xff" in s for s, r in reasons.items())
    with db.engine(url).connect() as conn:
        stored = conn.execute(select(db.rejects.c.reason).where(db.rejects.c.batch_run_id == "run-bad")).fetchall()
    assert len(stored) == len(listing["rejected"]) == 4


def _open_fresh(url: str) -> bool:
    db.engine(url)
    return True


def test_processes_opening_a_fresh_database_at_once_all_succeed(tmp_path: Path) -> None:
    with mp.get_context("spawn").Pool(4) as pool:
        for round_ in range(3):
            assert pool.map(_open_fresh, [f"sqlite:///{tmp_path / f'fresh{round_}.db'}"] * 4) == [True] * 4


def test_a_self_report_never_lands_after_the_withdrawal_that_overtook_it(tmp_path: Path) -> None:
    from sales_ability.collect.storage import ParticipantError, ParticipantStore

    store = ParticipantStore(tmp_path / "data", mode="screening", inbox=tmp_path / "inbox")
    pid = store.create(True)
    inside, recorded = threading.Event(), []

    def slow_erasure(_pid: str) -> None:  # the database is busy while the withdrawal holds the lock
        inside.set()
        threading.Event().wait(0.5)

    withdrawal = threading.Thread(target=store.delete, args=(pid, None, slow_erasure))
    withdrawal.start()
    inside.wait(10)
    with pytest.raises(ParticipantError) as refused:  # waits for the lock, then finds the participant gone
        store.save_self_report(pid, {"sex": "female"}, then=lambda p, r: recorded.append(p))
    withdrawal.join()
    assert refused.value.status == 404 and recorded == []


def test_a_withdrawal_whose_database_part_failed_completes_on_retry(tmp_path: Path) -> None:
    from sales_ability.collect.storage import ParticipantError, ParticipantStore

    store = ParticipantStore(tmp_path / "data", mode="screening", inbox=tmp_path / "inbox")
    pid = store.create(True)
    erased: list[str] = []

    def busy(_pid: str) -> None:
        raise TimeoutError("database is locked")

    with pytest.raises(TimeoutError):
        store.delete(pid, then=busy)
    assert not (tmp_path / "data" / pid).exists()  # the files went at once
    store.delete(pid, then=erased.append)  # the retry is not a 404: it finishes the database part
    assert erased == [pid]
    with pytest.raises(ParticipantError) as again:
        store.delete(pid, then=erased.append)
    assert again.value.status == 404 and erased == [pid]


def test_screening_refuses_the_research_profile(tmp_path: Path) -> None:
    from sales_ability.collect.storage import ParticipantError, ParticipantStore

    store = ParticipantStore(tmp_path / "data", mode="screening", inbox=tmp_path / "inbox")
    with pytest.raises(ParticipantError, match="profile") as refused:
        store.create(True, {"gender": "female"})
    assert refused.value.status == 422 and not any((tmp_path / "data").iterdir())


def test_dates_are_iso_dates_and_until_is_a_whole_day(tmp_path: Path) -> None:
    import typer

    from sales_ability.cli import iso_date
    from sales_ability.results.selection import audit_applicants

    url = f"sqlite:///{tmp_path / 'd.db'}"
    with db.engine(url).begin() as conn:
        for who, when in (("early", "2026-12-02T23:59:00+00:00"), ("late", "2026-12-15T09:00:00+00:00")):
            conn.execute(db.applicants.insert().values(applicant_id=who, model_version="1", scored_at=when))
    for bad in ("yesterday", "2026-12-1", "2026-13-45"):
        with pytest.raises(typer.BadParameter, match="ISO date"):
            iso_date(bad)
    picked = audit_applicants(url, iso_date("2026-12-01"), iso_date("2026-12-03"))
    assert list(picked["applicant_id"]) == ["early"]
    assert list(audit_applicants(url, until=iso_date("2026-12-02"))["applicant_id"]) == ["early"]
    from sales_ability.results.selection import MixedVersions

    with db.engine(url).begin() as conn:  # a second model version in the sample: one median for two scales
        conn.execute(db.applicants.insert().values(applicant_id="other", model_version="2", scored_at="2026-12-02T10:00:00+00:00"))
    with pytest.raises(MixedVersions, match="1, 2"):
        audit_applicants(url, iso_date("2026-12-01"), iso_date("2026-12-03"))
    assert list(audit_applicants(url, model_version="2")["applicant_id"]) == ["other"]


def test_csv_cells_never_run_as_formulas_and_read_back_exactly(tmp_path: Path) -> None:
    import pandas as pd

    from sales_ability.io_utils import read_csv_neutralised, write_csv_neutralised

    ids = ["=HYPERLINK(\"http://x\")", "+1", "-2", "@SUM(A1)", "\tx", "'quoted", "plain"]
    write_csv_neutralised(tmp_path / "a.csv", pd.DataFrame({"applicant_id": ids, "sales_score": [1.0] * 7}))
    raw = pd.read_csv(tmp_path / "a.csv", dtype=str, keep_default_na=False)["applicant_id"]
    assert not raw.str.match(r"^[=+\-@\t\r]").any()  # nothing a spreadsheet would run
    assert list(read_csv_neutralised(tmp_path / "a.csv")["applicant_id"]) == ids


def test_a_report_holds_a_bounded_number_of_strips_per_applicant() -> None:
    import pandas as pd

    from sales_ability.serving.run_report import STRIPS_PER_APPLICANT, render_report
    from sales_ability.traits import TRAITS

    n = STRIPS_PER_APPLICANT * 3
    segs = pd.DataFrame({"clip_id": [f"a_c{i:03d}" for i in range(n)], "applicant_id": "a", "source": "a.mp4",
                         "start_s": 0.0, "end_s": 15.0, "sales_score": 5.0, "sales_score_low": 4.0, "sales_score_high": 6.0,
                         "face_share": 1.0})
    people = pd.DataFrame({"applicant_id": ["a"], "sales_score": [5.0], "sales_score_low": [4.0], "sales_score_high": [6.0],
                           "face_share": [1.0], "answers": [1], "segments": [n], **{t: [0.5] for t in TRAITS},
                           **{f"score_{t}{end}": [5] for t in TRAITS for end in ("", "_low", "_high")},
                           **{f"{t}_{end}": [0.5] for t in TRAITS for end in ("low", "high")}})
    html = render_report(people, segs, pd.DataFrame(columns=["source", "clip_id", "reason"]), paper_knowledge_base(),
                         "m", {c: b"\x89PNG" + b"x" * 1000 for c in segs["clip_id"]})
    assert html.count('<img class="strip"') == STRIPS_PER_APPLICANT
    assert f"at most {STRIPS_PER_APPLICANT} strips per applicant" in html


def test_failure_notices_carry_no_secret_and_keep_their_deadline(monkeypatch: pytest.MonkeyPatch,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    import socket

    from sales_ability.operations import alerts

    drip = socket.socket()
    drip.bind(("127.0.0.1", 0))
    drip.listen(1)
    stop = threading.Event()

    def serve() -> None:  # answers 200, one byte a tenth of a second: 5 s in all, past a 1 s deadline
        conn, _ = drip.accept()
        conn.recv(65536)
        reply = b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n" + b"x" * 40
        for byte in reply:
            if stop.wait(5 / len(reply)):
                break
            conn.send(bytes([byte]))
        conn.close()

    threading.Thread(target=serve, daemon=True).start()
    port = drip.getsockname()[1]
    monkeypatch.setattr(alerts, "TIMEOUT_S", 1.0)
    monkeypatch.setenv(alerts.WEBHOOK_ENV, f"http://127.0.0.1:{port}/hooks/T0SECRETPATH")
    alert = alerts.alert_from_context({"exception": RuntimeError(
        "cannot reach http://mlflow:hunter2@tracking.example:5000/api"), "ti": None, "dag_run": None})
    assert "hunter2" not in alert.text() and "***@tracking.example" in alert.text()
    with caplog.at_level("ERROR", logger=alerts.__name__):
        delivered = alerts.send_alert(alert)
    stop.set()
    assert delivered == []  # the dripping reply never counted as delivered
    assert "T0SECRETPATH" not in caplog.text and f"127.0.0.1:{port}" in caplog.text


def test_a_report_never_ranks_applicants_of_two_model_versions_together() -> None:
    import re

    import pandas as pd

    from sales_ability.serving.run_report import render_report
    from sales_ability.traits import TRAITS

    people = pd.DataFrame({"applicant_id": ["a", "b", "c"], "model_version": ["1", "2", "1"],
                           "sales_score": [5.0, 9.0, 7.0], "sales_score_low": 4.0, "sales_score_high": 8.0,
                           "face_share": 1.0, "answers": 1, "segments": 1, **{t: 0.5 for t in TRAITS},
                           **{f"score_{t}{end}": 5 for t in TRAITS for end in ("", "_low", "_high")}})
    html = render_report(people, pd.DataFrame(columns=["clip_id", "applicant_id", "source", "sales_score"]),
                         pd.DataFrame(columns=["source", "clip_id", "reason"]), paper_knowledge_base(), "m")
    ranks = re.findall(r'<tr class="applicant">\s*<td>(\d+)</td>\s*<td><strong>(\w)</strong>', html)
    assert ranks == [("1", "c"), ("2", "a"), ("1", "b")]  # b's 9.0 is not "#1" over version 1's applicants
    assert html.count('class="version"') == 2
