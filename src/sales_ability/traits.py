"""The Big Five trait names and the project's one trait scale.

Order: the one order used everywhere (columns, model outputs, reports).

Scale: every trait is a number in [0, 1], high meaning more of the trait as IPIP-50 scores it. In
particular **neuroticism high = anxious, moody** (IPIP-50's ``1 - emotional stability``). Labels, model
outputs and knowledge-base thresholds all use this scale.

First Impressions V2 is the exception at the source: its ``neuroticism`` annotation behaves as emotional
stability (it correlates +0.88 with ``interview`` and +0.72..0.80 with the other four traits, where true
neuroticism correlates negatively). Its adapter therefore stores ``1 - x``, governed by
``dataset.fi_neuroticism_is_stability`` (on by default); turning it off keeps FI's raw scale.
"""

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


def fi_to_project_scale(values, neuroticism_is_stability: bool = True):
    """First Impressions' ``neuroticism`` values on the project's scale (``1 - x`` when they are stability)."""
    return 1.0 - values if neuroticism_is_stability else values
