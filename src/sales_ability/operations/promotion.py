"""How a model reaches applicants: a candidate, a comparison on held-out people, and a person's decision.

1. **Candidate.** ``dvc repro``/``dvc exp run`` never touch the registry: the evaluate stage logs the whole
   serving bundle (an MLflow Model with the network, featurize settings, calibration, knowledge base, card)
   as a LoggedModel of its run and writes ``models/candidate.json``, naming that run and model.
2. **Proposal** (``propose``; the retraining DAG's ``propose_candidate``, or ``sales-ability promote
   propose``). It registers the candidate as a new version under the ``challenger`` alias (a candidate
   awaiting a decision). Then it compares candidate and champion on the **selection people**: the
   fine-tuning manifest's ``selection`` participants (nobody trained, stopped early or calibrated on; a split
   without them falls back to validation, and says so), never test. Each model scores their raw answers with
   its *own* featurize settings and knowledge base, as a recruiter would receive them: one row per person,
   with the interval. The figures are the sales score's Spearman with the score of the labels, the
   interval's coverage per person (with a Clopper-Pearson interval), Eq. 1 per person, and the bias audit's
   lowest impact ratio. Two gates: coverage not below nominal minus ``registry.coverage_tolerance``, and a
   lowest impact ratio not worse than the champion's and not under 0.8. The comparison is a JSON and a
   Markdown file, logged in the candidate's run; its figures are the version's tags.
3. **Decision** (``decide``; the DAG's human-in-the-loop task, or ``sales-ability promote decide``). A person
   approves or rejects, with a reason. Approving a candidate that fails a gate needs an explicit override,
   whose reason is recorded too. Who decided, when, why, and what they saw are tags on the version. Only an
   approval moves ``champion``; ``challenger`` is cleared either way.
"""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from sales_ability.errors import ModelError, SalesAbilityError
from sales_ability.io_utils import write_json_atomic, write_text_atomic
from sales_ability.knowledge.audit import bias_audit, lowest_impact_ratios, read_self_reports
from sales_ability.knowledge.intervals import clopper_pearson
from sales_ability.knowledge.rate import sales_scores
from sales_ability.registry.models import CHALLENGER, CHAMPION, champion_version, resolve_model
from sales_ability.registry.tracking import tracking_uri
from sales_ability.serving.scoring import read_applicants, score_videos
from sales_ability.traits import TRAITS

CANDIDATE_FILE = "candidate.json"  # beside the models: what the evaluate stage built, for a person to decide on
FOUR_FIFTHS = 0.8


class PromotionBlocked(SalesAbilityError):
    """An approval that a gate refuses without an override (and its reason)."""


class AlreadyDecided(SalesAbilityError):
    """The candidate was proposed and decided before (nothing new was trained): nothing to ask anyone."""


@dataclass(frozen=True)
class Candidate:
    """What the evaluate stage built: the run that logged the MLflow Model (its LoggedModel's id; a model logged
    as plain run artifacts has none and is found at ``artifact_path``) and its test figures."""

    run_id: str
    artifact_path: str
    test_mean_accuracy: float
    model_name: str
    model_id: str = ""

    @property
    def source(self) -> str:
        return f"models:/{self.model_id}" if self.model_id else f"runs:/{self.run_id}/{self.artifact_path}"


def write_candidate(path: Path, run_id: str, artifact_path: str, test: dict, model_name: str, model_id: str = "") -> Path:
    """``models/candidate.json``: the candidate the evaluate stage logged (no registry is touched)."""
    write_json_atomic(path, {"run_id": run_id, "model_id": model_id, "artifact_path": artifact_path,
                             "model_name": model_name, "test_mean_accuracy": round(float(test["mean_accuracy"]), 6)})
    return path


def read_candidate(path: Path) -> Candidate:
    """The candidate named by ``path``.

    Raises:
        ModelError: no such file (run ``dvc repro`` first), or not a candidate file.
    """
    try:
        data = json.loads(Path(path).read_text())
        return Candidate(data["run_id"], data["artifact_path"], float(data["test_mean_accuracy"]), data["model_name"],
                         data.get("model_id", ""))
    except FileNotFoundError:
        raise ModelError(f"{path}: no candidate yet (run `dvc repro`: the evaluate stage writes it)") from None
    except (KeyError, ValueError, TypeError) as err:
        raise ModelError(f"{path}: not a candidate file ({err})") from None


def selection_split(manifest: pd.DataFrame) -> str:
    """The split promotion compares on: ``selection`` (people nothing was trained, stopped or calibrated on) where
    the manifest has one, else ``validation`` (a dataset split without a selection share; the comparison says so)."""
    return "selection" if (manifest["split"] == "selection").any() else "validation"


def selection_people(manifest: pd.DataFrame, split: str = "selection", root: Path | None = None) -> dict[str, dict]:
    """Per participant of ``split``: their recordings (each answer once; a relative path is the project
    ``root``'s, whatever the current folder) and their label traits."""
    part = manifest[manifest["split"] == split]
    people = {}
    for pid, rows in part.groupby(part["participant_id"].astype(str), sort=True):
        sources = [str(root / s) if root is not None and not Path(s).is_absolute() else s
                   for s in dict.fromkeys(rows["source"].astype(str))]
        people[pid] = {"videos": sources,
                       "labels": {t: float(rows[t].astype(float).mean()) for t in TRAITS}}
    return people


def served_figures(uri: str, people: dict[str, dict], self_reports: pd.DataFrame, coverage: float,
                   tracking: str | None = None) -> dict:
    """What a recruiter would get from the model at ``uri`` for ``people``: each scored from their own answers
    with the model's own featurize settings and knowledge base, one row per person with the interval; and
    how that compares with their labels."""
    from scipy.stats import spearmanr

    model = resolve_model(uri, tracking=tracking)
    owners = {video: pid for pid, person in people.items() for video in person["videos"]}
    with tempfile.TemporaryDirectory(prefix="compare-") as out:
        score_videos(list(owners), out, None, model, progress=False, write_report=False, coverage=coverage,
                     applicant_ids=owners)
        rows = read_applicants(Path(out)).dropna(subset=["sales_score"])
    rows = rows[rows["applicant_id"].isin(people)]
    labels = np.array([[people[a]["labels"][t] for t in TRAITS] for a in rows["applicant_id"]], float).reshape(-1, 5)
    truth = sales_scores(labels, model.knowledge_base) if len(rows) else np.zeros(0)
    predicted = rows[list(TRAITS)].to_numpy(float)
    n = int(len(rows))
    covered = int(((rows["sales_score_low"] <= truth) & (truth <= rows["sales_score_high"])).sum()) if n else 0
    audit = rows.merge(self_reports.rename(columns={"participant_id": "applicant_id"}), on="applicant_id", how="left")
    table = bias_audit(audit) if n else pd.DataFrame(columns=["impact_ratio", "small", "unknown"])
    judged = table[~table["small"].astype(bool) & ~table["unknown"].astype(bool)].dropna(subset=["impact_ratio"])
    rho = spearmanr(rows["sales_score"], truth).statistic if n > 2 else math.nan
    return {
        "uri": uri, "version": model.version, "knowledge_base_sha256": model.knowledge_base_sha256,
        "featurize": model.featurize.tensor_settings() if model.featurize else None,
        "people": n, "people_not_scored": len(people) - n,
        "sales_score_spearman": None if rho != rho else round(float(rho), 4),
        "eq1_mean_accuracy": round(float(1 - np.abs(predicted - labels).mean()), 4) if n else None,
        "coverage": round(covered / n, 4) if n else None, "coverage_ci95": list(clopper_pearson(covered, n)),
        # only categories large enough to judge (the audit's "small" ones are shown, never gated on)
        "lowest_impact_ratio": round(float(judged["impact_ratio"].min()), 4) if len(judged) else None,
        "impact_ratios": lowest_impact_ratios(table) if n else {},
    }


def compare(candidate: dict, champion: dict | None, nominal: float, tolerance: float) -> dict:
    """The gates and the comparison a person decides on."""
    gates = {}
    cov = candidate["coverage"]
    gates["coverage"] = {"ok": cov is not None and cov >= nominal - tolerance,
                         "why": f"coverage {cov} of {candidate['people']} people against nominal {nominal} - tolerance {tolerance}"}
    ratio, before = candidate["lowest_impact_ratio"], (champion or {}).get("lowest_impact_ratio")
    audit_ok = ratio is not None and ratio >= FOUR_FIFTHS and (before is None or ratio >= before)
    gates["audit"] = {"ok": audit_ok, "why": (
        f"lowest impact ratio {ratio} (champion {before}; four-fifths rule {FOUR_FIFTHS})" if ratio is not None else
        f"no category large enough to judge among {candidate['people']} people: the audit cannot say yes")}
    return {"nominal": nominal, "tolerance": tolerance, "candidate": candidate, "champion": champion, "gates": gates,
            "eligible": all(g["ok"] for g in gates.values())}


def comparison_markdown(comparison: dict, version: str) -> str:
    """The comparison as a person reads it (the HITL form's body, the artifact in MLflow)."""
    cand, champ = comparison["candidate"], comparison["champion"]
    split = comparison.get("selection_split", "selection")
    rows = [(f"people scored ({split} split)", "people"), ("sales score Spearman with labels", "sales_score_spearman"),
            ("interval coverage per person", "coverage"), ("coverage 95% interval", "coverage_ci95"),
            ("Eq. 1 per person", "eq1_mean_accuracy"), ("lowest impact ratio", "lowest_impact_ratio"),
            ("model version", "version"), ("knowledge base sha256", "knowledge_base_sha256")]
    table = "\n".join(f"| {label} | {cand.get(key)} | {(champ or {}).get(key, '-')} |" for label, key in rows)
    gates = "\n".join(f"- {'pass' if g['ok'] else '**FAIL**'} {name}: {g['why']}" for name, g in comparison["gates"].items())
    verdict = ("Every gate passes: the decision is yours." if comparison["eligible"] else
               "A gate fails: approving needs an override with a reason.")
    return (f"## Candidate version {version} against the champion\n\nEach model scored the selection people's own "
            f"answers with its own featurize settings and knowledge base, as a recruiter would receive them. These "
            f"people were never in the test split, and test figures were not used to choose. {_split_note(split)} "
            f"Few people: read the intervals.\n\n| | candidate | champion |\n| --- | --- | --- |\n{table}\n\n{gates}\n\n{verdict}\n")


def _split_note(split: str) -> str:
    if split == "selection":
        return "Nothing was trained, stopped early or calibrated on them."
    return ("They are the validation people, whom training also used for early stopping and calibration (this "
            "dataset's split has no selection share): the candidate's figures lean optimistic.")


def _link_logged_model(client, model_id: str, name: str, version: str) -> None:
    """The LoggedModel's record of its registered versions (the tag ``mlflow.register_model`` keeps, which the
    Models tab shows), appended to."""
    from mlflow.utils.mlflow_tags import MLFLOW_MODEL_VERSIONS

    known = json.loads(client.get_logged_model(model_id).tags.get(MLFLOW_MODEL_VERSIONS, "[]"))
    client.set_logged_model_tags(model_id, {MLFLOW_MODEL_VERSIONS: json.dumps([*known, {"name": name, "version": version}])})


def register_candidate(candidate: Candidate, tracking: str | None = None) -> str:
    """The candidate as a registered version under ``challenger`` (a retried proposal reuses its version)."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking or tracking_uri(), registry_uri=tracking or tracking_uri())
    name = candidate.model_name
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name, description="Big Five trait model behind the sales score (decision support).")
    existing = [v for v in client.search_model_versions(f"name='{name}'") if v.run_id == candidate.run_id]
    if existing:
        version = str(existing[0].version)
    else:
        if candidate.model_id:  # a LoggedModel: the version's source is models:/<model_id>
            created = client.create_model_version(name, source=candidate.source, run_id=candidate.run_id,
                                                  model_id=candidate.model_id)
            _link_logged_model(client, candidate.model_id, name, str(created.version))
        else:
            source = f"{client.get_run(candidate.run_id).info.artifact_uri}/{candidate.artifact_path}"
            created = client.create_model_version(name, source=source, run_id=candidate.run_id)
        version = str(created.version)
        try:
            card = client.download_artifacts(candidate.run_id, "model_card.md")
            client.update_model_version(name, version, description=Path(card).read_text())
        except MlflowException:
            pass
        client.set_model_version_tag(name, version, "test_mean_accuracy", f"{candidate.test_mean_accuracy:.6f}")
    client.set_registered_model_alias(name, CHALLENGER, version)
    return version


def propose(candidate_file: Path, manifest_file: Path, nominal: float, tolerance: float, out_dir: Path,
            tracking: str | None = None, root: Path | None = None) -> dict:
    """Register the candidate (``challenger``), compare it with the champion on the selection people, write
    ``comparison.json``/``.md`` into ``out_dir``, log them in the candidate's run and tag the version.
    ``root``: the project folder the manifest's relative paths start from (default: the current folder).

    Raises:
        AlreadyDecided: the candidate's version carries a person's decision already (nothing is changed).
        ModelError: no candidate, or no selection people.
    """
    from mlflow import MlflowClient

    tracking = tracking or tracking_uri()
    candidate = read_candidate(candidate_file)
    version = register_candidate(candidate, tracking)
    decided = MlflowClient(tracking, registry_uri=tracking).get_model_version(candidate.model_name, version).tags
    if decided.get("decision", "awaiting") != "awaiting":
        raise AlreadyDecided(f"candidate version {version} was {decided['decision']} by {decided.get('decided_by', '?')}: "
                             "nothing new to decide (train again to get a new candidate)")
    manifest = pd.read_csv(manifest_file, dtype={"participant_id": str, "clip_id": str})
    split = selection_split(manifest)
    people = selection_people(manifest, split, root=Path(root).resolve() if root is not None else Path.cwd())
    if not people:
        raise ModelError(f"{manifest_file}: no participant in the selection or validation split to compare on")
    # the audit's categories: the self-reports beside the participants' folders (the demo's synthetic ones)
    raw_dirs = sorted({Path(v).parent.parent for p in people.values() for v in p["videos"]})
    reports = pd.concat([read_self_reports(d) for d in raw_dirs if d.is_dir()] or [pd.DataFrame(columns=["participant_id"])])
    name = candidate.model_name
    figures = served_figures(f"models:/{name}/{version}", people, reports, nominal, tracking)
    before = champion_version(name, tracking)
    champion = served_figures(f"models:/{name}/{before}", people, reports, nominal, tracking) if before else None
    comparison = {**compare(figures, champion, nominal, tolerance), "selection_split": split, "candidate_version": version,
                  "champion_version": before, "compared_at": _now()}
    markdown = comparison_markdown(comparison, version)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out_dir / "comparison.json", comparison)
    write_text_atomic(out_dir / "comparison.md", markdown)
    client = MlflowClient(tracking, registry_uri=tracking)
    for file in ("comparison.json", "comparison.md"):
        client.log_artifact(candidate.run_id, str(out_dir / file), artifact_path="promotion")
    tags = {"selection_people": figures["people"], "selection_split": split, "selection_sales_spearman": figures["sales_score_spearman"],
            "selection_coverage": figures["coverage"], "selection_eq1": figures["eq1_mean_accuracy"],
            "lowest_impact_ratio": figures["lowest_impact_ratio"], "eligible": comparison["eligible"],
            "compared_with": before or "none", "decision": "awaiting"}
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, str(value))
    return {"version": version, "champion_version": before, "eligible": comparison["eligible"], "markdown": markdown,
            "model_name": name}


def decide(model_name: str, version: str, approve: bool, by: str, reason: str, override: bool = False,
           tracking: str | None = None) -> dict:
    """Record a person's decision on a proposed version; only an approval moves ``champion``.

    Raises:
        PromotionBlocked: an approval of a version a gate refuses, without ``override``; or no reviewer
            named, or no reason given.
        ModelError: the version was never proposed (no comparison on it).
    """
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    if not by.strip() or not reason.strip():
        raise PromotionBlocked("a decision needs the reviewer's name (--by) and a reason (--reason)")
    tracking = tracking or tracking_uri()
    client = MlflowClient(tracking, registry_uri=tracking)
    try:
        tags = client.get_model_version(model_name, version).tags
    except MlflowException:
        raise ModelError(f"models:/{model_name}/{version}: no such registered version") from None
    if "eligible" not in tags:
        raise ModelError(f"models:/{model_name}/{version} was never compared with the champion: run "
                         "`sales-ability promote propose` first")
    if approve and tags["eligible"] != "True" and not override:
        raise PromotionBlocked(f"models:/{model_name}/{version} fails a gate (see its comparison.md): approving it "
                               "needs --override and a reason")
    decision = "approved" if approve else "rejected"
    record = {"decision": decision + (" (gate overridden)" if approve and tags["eligible"] != "True" else ""),
              "decided_by": by, "decided_at": _now(), "decision_reason": reason[:5000]}
    for key, value in record.items():
        client.set_model_version_tag(model_name, version, key, value)
    if approve:
        client.set_registered_model_alias(model_name, CHAMPION, version)
    try:
        if str(client.get_model_version_by_alias(model_name, CHALLENGER).version) == str(version):
            client.delete_registered_model_alias(model_name, CHALLENGER)
    except MlflowException:
        pass
    return {"model_name": model_name, "version": version, **record}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
