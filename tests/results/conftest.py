"""Results fixtures: one scored inbox that the results-database and erasure tests copy from."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sales_ability.knowledge.rate import paper_knowledge_base, save_knowledge_base
from sales_ability.operations.batch import list_new_applicants, score_shard


@pytest.fixture(scope="package")
def scored(tmp_path_factory: pytest.TempPathFactory, demo_dir: Path, tiny_model: Path) -> dict:
    """An inbox of two applicant folders (two answers each) and a loose video, scored into shards once. The names
    hold '_', which base64 (the report's embedded strips) cannot produce, so a search for them is exact."""
    root = tmp_path_factory.mktemp("batch")
    inbox = root / "inbox"
    for person, clips in (("ann_k", ("p000_c0", "p000_c1")), ("bob_k", ("p001_c0", "p001_c1"))):
        (inbox / person).mkdir(parents=True)
        for n, clip in enumerate(clips, 1):
            shutil.copy(demo_dir / f"{clip}.mp4", inbox / person / f"answer_{n}.mp4")
        (inbox / person / "complete.json").write_text("{}")
    shutil.copy(demo_dir / "p002_c0.mp4", inbox / "carl.mp4")
    kb = root / "kb.json"
    save_knowledge_base(paper_knowledge_base(), kb)
    url = f"sqlite:///{root / 'plan.db'}"
    listing = list_new_applicants(inbox, root / "outbox", shard_size=2, knowledge_base=kb, database_url=url)
    shards = [score_shard(s, root / "outbox", kb, str(tiny_model)) for s in listing["shards"]]
    return {"root": root, "inbox": inbox, "kb": kb, "shards": shards, "model": str(tiny_model)}


