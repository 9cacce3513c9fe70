"""Test set-up: a logged model made champion the way a person would (register, then a recorded approval)."""

from __future__ import annotations


def approve_as_champion(run_id: str, model_name: str = "sales-ability", artifact_path: str = "model",
                        tracking: str | None = None, model_id: str = "") -> str:
    """Register ``models:/<model_id>`` (a LoggedModel) or ``runs:/<run_id>/<artifact_path>`` and record an approval
    by "test"; returns the version.

    The comparison that ``promote propose`` would run is replaced by its verdict (the ``eligible`` tag):
    these tests are about what a champion is used for, not how it was chosen (tests/operations/test_promotion.py)."""
    from mlflow import MlflowClient

    from sales_ability.operations.promotion import Candidate, decide, register_candidate
    from sales_ability.registry.tracking import tracking_uri

    tracking = tracking or tracking_uri()
    version = register_candidate(Candidate(run_id, artifact_path, 0.9, model_name, model_id), tracking)
    MlflowClient(tracking, registry_uri=tracking).set_model_version_tag(model_name, version, "eligible", "True")
    decide(model_name, version, True, "test", "test set-up: approved without a comparison", tracking=tracking)
    return version
