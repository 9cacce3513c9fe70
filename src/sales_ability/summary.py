"""A short account of what the pipeline produced (printed at the end of ``make demo``)."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from sales_ability.registry.card import coverage_ci, with_interval
from sales_ability.registry.models import champion_uri, champion_version, project_model_name
from sales_ability.registry.tracking import tracking_uri
from sales_ability.traits import TRAITS


def _json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def pipeline_summary(root: str | Path = ".") -> Table:
    """A table of the pipeline's outputs under ``root``."""
    import pandas as pd

    root = Path(root)
    table = Table(title="sales-ability pipeline summary", show_header=True)
    table.add_column("stage")
    table.add_column("output")
    table.add_column("result")
    manifest = root / "data/manifests/train.csv"
    if manifest.is_file():
        m = pd.read_csv(manifest)
        splits = ", ".join(f"{k} {v}" for k, v in m["split"].value_counts().sort_index().items())
        table.add_row("prepare", str(manifest), f"{len(m)} clips of {m['participant_id'].nunique()} participants ({splits})")
    feat = _json(root / "metrics/featurize.json").get("featurize")
    if feat:
        table.add_row("featurize", "data/faces/train/", f"kept {feat['kept']}, rejected {feat['rejected']} in {feat['seconds']} s")
    kb = _json(root / "models/knowledge_base.json")
    if kb:
        dists = ", ".join(f"{t[0].upper()}:{e['distribution']['name']}" for t, e in kb["traits"].items() if "distribution" in e)
        table.add_row("fit_thresholds", "models/knowledge_base.json", f"{kb['knowledge_base']} on {kb.get('n', '?')} clips ({dists})")
    for stage in ("train", "finetune"):
        model = _json(root / f"metrics/{stage}.json").get(stage)
        if model:
            preset = f"{model['preset']}, " if "preset" in model else ""
            table.add_row(stage, f"models/{stage}/",
                          f"{preset}{model['epochs_run']} epochs, best validation mean accuracy "
                          f"{model['best_val_mean_accuracy']:.4f}, {model['train_clips_per_s']:.0f} clips/s")
    ev = _json(root / "metrics/evaluate.json").get("test")
    if ev:
        gain = ev["mean_accuracy"] - ev["baseline_mean_accuracy"]
        verdict = "beats" if gain > 0 else "does NOT beat"
        table.add_row("evaluate", "metrics/evaluate.json",
                      f"test mean accuracy {ev['mean_accuracy']:.4f} {verdict} the constant-predictor baseline "
                      f"{ev['baseline_mean_accuracy']:.4f} ({gain:+.4f}) over {ev['n']} segments"
                      + (f" of {ev['people']['people']} people (per person, with intervals: below)" if ev.get("people") else ""))
    intervals = (ev or {}).get("intervals")
    if intervals:
        seg, app = intervals["segments"], intervals["applicants"]
        per_trait = ", ".join(f"{t[0].upper()} {seg[t]['coverage']:.0%}" for t in ("openness", "conscientiousness", "extraversion",
                                                                                 "agreeableness", "neuroticism"))
        table.add_row("intervals", "metrics/evaluate.json",
                      f"nominal {intervals['nominal']:.0%} (calibrated on {intervals['calibration_segments']} "
                      f"{intervals.get('calibration_split', 'validation')} segments{_people_note(intervals)}): "
                      f"sales score covered in {seg['sales_score']['coverage']:.1%} of {seg['n']} test segments and "
                      f"{app['sales_score']['coverage']:.1%}{coverage_ci(app['sales_score'])} of {app['n']} test applicants "
                      f"(mean width {app['sales_score']['mean_width']:.2f}{_range(intervals)}); traits per segment {per_trait}"
                      + (f", all five at once {seg['all_five_traits']['coverage']:.0%}" if "all_five_traits" in seg else ""))
        table.add_row("applicants", "reports/applicants_test.csv",
                      f"{app['n']} test applicants: Spearman of the sales score with the planted one "
                      + ("n/a" if intervals["applicant_sales_score_spearman"] is None
                         else f"{intervals['applicant_sales_score_spearman']:+.3f}"))
    people = (ev or {}).get("people")
    if people:
        table.add_row("per person", "metrics/evaluate.json",
                      f"{people['people']} test people: Eq. 1 {with_interval(people['mean_accuracy'], 4)} against "
                      f"{with_interval(people['baseline_mean_accuracy'], 4)} (95% bootstrap over people)")
    reliability = (ev or {}).get("reliability")
    if reliability and reliability.get("people"):
        flagged = (intervals or {}).get("answers_disagree") or {}
        table.add_row("reliability", "metrics/evaluate.json",
                      f"split-half across answers, {reliability['people']} test people: sales score "
                      f"{with_interval(reliability.get('sales_score'), 2)}"
                      + (f"; answers disagree for {flagged['flagged']} of {flagged['of']} test applicants"
                         if flagged.get("of") else ""))
    promotion = _champion_line(root)
    if promotion:
        table.add_row("registry", "mlflow.db", promotion)
    validity = _json(root / "metrics/validity.json").get("validity")
    if validity:
        quota = validity.get("quota.sales_score", {})
        profiles = validity.get("profiles", {})
        table.add_row("validate_outcomes", "reports/validity/validity.html",
                      f"{validity['people']} demo hires, planted outcomes: sales score vs quota r "
                      + ("n/a" if quota.get("r") is None else f"{quota['r']:+.2f} [{quota['ci95_low']:+.2f}, {quota['ci95_high']:+.2f}]")
                      + f"; valid for: {', '.join(validity['valid_for']) or 'nothing'}; profiles offered: "
                      + (", ".join(o for o, p in profiles.items() if p.get("offered")) or "none"))
    rated = _json(root / "metrics/knowledge_base.json").get("knowledge_base")
    if rated:
        k4 = rated.get("clusters", {}).get("k4", {})
        extra = f", k=4 eta^2 {k4['eta_squared']}" if k4 else ""
        if "null_share_at_least_as_high" in k4:  # the clusters are of the traits: other directions' scores too
            extra += (f" ({k4['null_share_at_least_as_high']:.0%} of the {k4['null_directions']} other direction "
                      "choices explained as well)")
        shares = rated.get("bin_shares")
        if shares:  # the deciles are the labels': predictions pile into fewer bins
            extra += "; score bins used per trait " + ", ".join(f"{t[0].upper()} {shares[t]['bins_used']}/10" for t in TRAITS)
        table.add_row("rate", "reports/rated_test.csv",
                      f"{rated['rated']} rated from {rated['traits_source']}, mean sales score {rated['mean_sales_score']}{extra}")
    return table


def _range(intervals: dict) -> str:
    widths = intervals.get("applicant_half_widths", {}).get("sales_score")
    if not isinstance(widths, dict) or widths.get("median") is None:
        return ""
    return f", half-widths per applicant {widths['min']:.2f} to {widths['max']:.2f}"


def _people_note(intervals: dict) -> str:
    people = intervals.get("calibration_people")
    if people is None:
        return ""
    if people < intervals.get("people_needed", 0):
        return f" of {people} people: too few for a per-person interval, applicants get the whole scale"
    return f", applicants on their {people} people"


def learning_table(root: str | Path = ".") -> Table | None:
    """Per trait on the test split: Pearson, Eq. 1 accuracy against the constant predictor, prediction sd."""
    import numpy as np
    import pandas as pd

    root = Path(root)
    ev = _json(root / "metrics/evaluate.json").get("test")
    if not ev:
        return None
    predictions = root / "reports/predictions_test.csv"
    spread = pd.read_csv(predictions)[list(TRAITS)].std() if predictions.is_file() else None
    people = (ev.get("people") or {}).get("people")
    table = Table(title=f"Does it learn? test split, {ev['n']} segments" + (f" of {people} people" if people else "")
                  + " (per segment: Pearson per trait; Eq. 1 accuracy vs baseline; per person with intervals: the model card)")
    for column in ("trait", "Pearson", "accuracy", "baseline", "gain", "prediction sd"):
        table.add_column(column, justify="right")
    for trait in TRAITS:
        t = ev[trait]
        table.add_row(trait, f"{t['pearson']:+.3f}", f"{t['accuracy']:.4f}", f"{t['baseline_accuracy']:.4f}",
                      f"{t['accuracy'] - t['baseline_accuracy']:+.4f}", "" if spread is None else f"{spread[trait]:.3f}")
    gain = ev["mean_accuracy"] - ev["baseline_mean_accuracy"]
    table.add_row("mean", f"{np.mean([ev[t]['pearson'] for t in TRAITS]):+.3f}", f"{ev['mean_accuracy']:.4f}",
                  f"{ev['baseline_mean_accuracy']:.4f}", f"{gain:+.4f}", "")
    return table


def scores_line(root: str | Path = ".") -> str | None:
    """How far apart the test candidates' sales scores are (distinct values, sd, range)."""
    import pandas as pd

    rated = Path(root) / "reports/rated_test.csv"
    if not rated.is_file():
        return None
    scores = pd.read_csv(rated)["sales_score"]
    return (f"sales scores of the {len(scores)} test clips: {scores.nunique()} distinct values, sd {scores.std():.2f}, "
            f"range {scores.min():.1f}..{scores.max():.1f}")


def stage_times_table(root: str | Path = ".") -> Table | None:
    """Wall time of each stage's latest run (``metrics/stage_times.json``)."""
    times = _json(Path(root) / "metrics/stage_times.json")
    if not times:
        return None
    table = Table(title="stage times (s), each from its latest run (DVC skips unchanged stages)")
    table.add_column("stage")
    table.add_column("seconds", justify="right")
    for stage, seconds in times.items():
        table.add_row(stage, f"{seconds:.1f}")
    table.add_row("all stages", f"{sum(times.values()):.1f}")
    return table


def _champion_line(root: Path) -> str | None:
    """The champion and who approved it, or what the candidate awaits (``dvc repro`` registers nothing)."""
    try:
        from mlflow import MlflowClient

        name = project_model_name(root)
        version = champion_version(name)
        if version is None:
            return ("no champion: a person decides on the candidate "
                    "(`sales-ability promote propose`, then `sales-ability promote decide VERSION --approve ...`)")
        tags = MlflowClient(tracking_uri()).get_model_version(name, version).tags
    except Exception:  # noqa: BLE001 - the summary never fails on a missing store
        return None
    who = f", {tags['decision']} by {tags['decided_by']}" if "decided_by" in tags else ""
    return f"{champion_uri(name).removeprefix('models:/')} is version {version}{who}"


def print_summary(root: str | Path = ".") -> None:
    console = Console(width=120)
    console.print(pipeline_summary(root))
    for extra in (learning_table(root), scores_line(root), stage_times_table(root)):
        if extra is not None:
            console.print(extra)
