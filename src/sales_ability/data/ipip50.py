"""IPIP-50 (Goldberg's Big-Five factor markers): the questionnaire whose scores are our ground truth.

Scoring: a minus-keyed item is recoded ``6 - x``; a factor's raw score is the sum of its 10 items
(10..50), normalised to ``(raw - 10) / 40``; neuroticism is ``1 - emotional stability``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import pandas as pd

from sales_ability.errors import IPIPError
from sales_ability.traits import TRAITS

N_ITEMS = 50
ITEM_COLUMNS: tuple[str, ...] = tuple(f"q{i}" for i in range(1, N_ITEMS + 1))
FACTOR_TO_TRAIT = {
    "O": "openness",
    "C": "conscientiousness",
    "E": "extraversion",
    "A": "agreeableness",
    "ES": "neuroticism",  # scored as emotional stability, then reversed
}


@dataclass(frozen=True)
class IPIPItem:
    """One questionnaire item."""

    number: int
    text: str
    factor: str
    key: str

    @property
    def column(self) -> str:
        return f"q{self.number}"


@lru_cache(maxsize=1)
def load_key() -> tuple[IPIPItem, ...]:
    """The 50 items with their factor and key, from the package's copy of the public-domain key."""
    with resources.files("sales_ability.resources").joinpath("ipip50_key.csv").open() as fh:
        frame = pd.read_csv(fh)
    items = tuple(
        IPIPItem(int(r.item_number), str(r.item_text), str(r.factor), str(r.key)) for r in frame.itertuples()
    )
    if [i.number for i in items] != list(range(1, N_ITEMS + 1)):
        raise IPIPError("ipip50_key.csv must list items 1..50 in order")
    return items


def _validated_answer(participant: str, column: str, value: object) -> int:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
        raise IPIPError(f"participant {participant}: {column} is missing")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise IPIPError(f"participant {participant}: {column} is not a number ({value!r})") from None
    if not number.is_integer() or not 1 <= number <= 5:
        raise IPIPError(f"participant {participant}: {column} must be an integer 1..5, got {value!r}")
    return int(number)


def score_answers(answers: dict[str, object], participant: str = "?") -> dict[str, float]:
    """Score one participant's answers.

    Args:
        answers: ``q1``..``q50`` -> answer 1..5.
        participant: used in error messages.

    Returns:
        Trait -> score in [0, 1], in ``TRAITS`` order.

    Raises:
        IPIPError: an answer is missing, non-numeric or outside 1..5 (names participant and item).
    """
    raw: dict[str, int] = {f: 0 for f in FACTOR_TO_TRAIT}
    for item in load_key():
        value = _validated_answer(participant, item.column, answers.get(item.column))
        raw[item.factor] += value if item.key == "+" else 6 - value
    normalised = {FACTOR_TO_TRAIT[f]: (s - 10) / 40 for f, s in raw.items()}
    normalised["neuroticism"] = 1.0 - normalised["neuroticism"]
    return {t: normalised[t] for t in TRAITS}


def score_sheet(frame: pd.DataFrame, source: str | Path = "answers") -> pd.DataFrame:
    """Score a sheet with columns ``participant_id, q1..q50``; all rows must be valid.

    Raises:
        IPIPError: a column is missing, or any answer is bad (the first bad one is named).
    """
    missing = [c for c in ("participant_id", *ITEM_COLUMNS) if c not in frame.columns]
    if missing:
        raise IPIPError(f"{source}: missing columns {', '.join(missing)}")
    rows = []
    for record in frame.to_dict("records"):
        pid = str(record["participant_id"])
        rows.append({"participant_id": pid, **score_answers(record, participant=pid)})
    return pd.DataFrame(rows, columns=["participant_id", *TRAITS])
