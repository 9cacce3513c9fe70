"""The Big Five trait names, in the one order used everywhere (columns, model outputs, reports)."""

from __future__ import annotations

TRAITS: tuple[str, ...] = (
    "openness",
    "conscientiousness",
    "extraversion",
    "agreeableness",
    "neuroticism",
)

# First Impressions also rates "would you invite this person to a job interview"; it is kept, not modelled.
INTERVIEW = "interview"

TRAIT_LETTERS: dict[str, str] = {t: t[0].upper() for t in TRAITS}
