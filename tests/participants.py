"""Participants as the website makes them (consent, five answers, the questionnaire, complete), for tests."""

from __future__ import annotations

import shutil
from pathlib import Path

from sales_ability.collect.storage import ParticipantStore
from sales_ability.data.ipip50 import ITEM_COLUMNS

QUESTIONNAIRE = {c: 3 for c in ITEM_COLUMNS}  # every item answered "neutral": every trait 0.5


def website_participant(store: ParticipantStore, clip: Path, questionnaire: dict | None = None,
                        complete: bool = True) -> str:
    """A participant whose five answers are copies of ``clip``; ``questionnaire`` None leaves it unanswered."""
    pid = store.create(agreed=True)
    for number in range(1, 6):
        received = store.root / f"received_{pid}_{number}{clip.suffix}"
        shutil.copy(clip, received)
        store.place_answer(pid, number, received, clip.suffix)
    if questionnaire is not None:
        store.save_ipip(pid, questionnaire, {})
    if complete:
        store.complete(pid)
    return pid
