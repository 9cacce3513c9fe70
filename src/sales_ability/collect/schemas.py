"""The website API's request bodies: strict JSON (consent is ``true``, IPIP answers are integers 1..5, unknown
fields are refused)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from sales_ability.collect.storage import ParticipantError
from sales_ability.data.applicant_folder import ATS_REFERENCE, REQUISITION_ID
from sales_ability.data.ipip50 import ITEM_COLUMNS

class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewParticipant(_Strict):
    agree: StrictBool
    profile: dict[StrictStr, StrictStr] = {}
    # screening: the link's job and the applicant's reference in the company's tracking system (review workspace)
    requisition: StrictStr | None = Field(None, pattern=REQUISITION_ID.pattern)
    reference: StrictStr | None = Field(None, pattern=ATS_REFERENCE.pattern)


class ProfileBody(_Strict):
    profile: dict[StrictStr, StrictStr]


class SelfReportBody(_Strict):
    sex: StrictStr = "prefer_not_to_say"
    race_ethnicity: StrictStr = "prefer_not_to_say"


class IPIPBody(_Strict):
    answers: dict[StrictStr, Any]


def strict_ipip_answers(answers: dict[str, Any]) -> dict[str, int]:
    """Every item once, each a JSON integer 1..5 (not a boolean, string or float)."""
    unknown = sorted(set(answers) - set(ITEM_COLUMNS))
    if unknown:
        raise ParticipantError(422, f"unknown items: {', '.join(unknown[:5])}")
    for item in ITEM_COLUMNS:
        if item not in answers:
            raise ParticipantError(422, f"{item} is missing")
        value = answers[item]
        if type(value) is not int or not 1 <= value <= 5:
            shown = repr(value) if len(repr(value)) <= 12 else f"{repr(value)[:12]}…"
            raise ParticipantError(422, f"{item} must be an integer 1..5 (got {shown})")
    return {item: answers[item] for item in ITEM_COLUMNS}
