"""The ``sales-ability`` command line: one entry point for every stage."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from sales_ability.collect.storage import MODES, ParticipantStore
from sales_ability.collect.video_check import RecordingLimits
from sales_ability.config import Params, load_params
from sales_ability.data.datasets import build_manifest, manifest_from_inputs
from sales_ability.data.demo_data import write_demo_dataset
from sales_ability.data.featurize import featurize_manifest
from sales_ability.data.ipip50 import score_sheet
from sales_ability.dvc_plots import PlotsTemplateError, install_offline_template
from sales_ability.errors import IPIPError, SalesAbilityError
from sales_ability.io_utils import write_csv_atomic, write_json_atomic
from sales_ability.knowledge.rate import load_knowledge_base, paper_knowledge_base, rate, save_knowledge_base
from sales_ability.operations.batch import merge_shards
from sales_ability.operations.forget import DEADLINE_DAYS, erasure_status, forget as forget_person, forget_requested
from sales_ability.operations.ingest import IngestError, ingest_collected
from sales_ability.operations.promotion import AlreadyDecided, decide, propose
from sales_ability.outcomes.importer import import_outcomes
from sales_ability.quiet import VERBOSE_ENV, quiet
from sales_ability.registry.card import card_summary
from sales_ability.registry.models import champion_uri
from sales_ability.registry.tracking import fail_fast_tracking
from sales_ability.results.audit_report import write_audit
from sales_ability.serving.scoring import score_videos
from sales_ability.settings import SettingsError, settings
from sales_ability.stages.table3 import run_table3
from sales_ability.summary import print_summary

app = typer.Typer(
    help="Estimate sales potential from self-introduction videos (decision support, never an automatic rejection).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
ipip50_app = typer.Typer(help="IPIP-50 questionnaire: the ground-truth Big Five labels.", no_args_is_help=True)
app.add_typer(ipip50_app, name="ipip50")
collect_app = typer.Typer(help="The data-collection website (consent, 5 recorded answers, IPIP-50).", no_args_is_help=True)
app.add_typer(collect_app, name="collect")
thresholds_app = typer.Typer(help="Knowledge base: per-trait thresholds that turn traits into 1..10 scores.", no_args_is_help=True)
app.add_typer(thresholds_app, name="thresholds")
applicants_app = typer.Typer(help="Scored applicants in the results database: erasure and retention.", no_args_is_help=True)
app.add_typer(applicants_app, name="applicants")
promote_app = typer.Typer(help="How a model reaches applicants: propose the candidate, then a person decides.",
                          no_args_is_help=True)
app.add_typer(promote_app, name="promote")
outcomes_app = typer.Typer(help="Hires' job outcomes, for the study of whether the score predicts sales (validate).",
                           no_args_is_help=True)
app.add_typer(outcomes_app, name="outcomes")
review_app = typer.Typer(help="The recruiters' review workspace: accounts, requisitions, the web app, exports and the "
                              "tracking system's webhook.", no_args_is_help=True)
app.add_typer(review_app, name="review")
account_app = typer.Typer(help="Personal accounts of the review workspace (recruiter, auditor, admin).", no_args_is_help=True)
review_app.add_typer(account_app, name="account")
requisition_app = typer.Typer(help="Requisitions (jobs) and the recruiters assigned to them.", no_args_is_help=True)
review_app.add_typer(requisition_app, name="requisition")

console = Console(stderr=True, soft_wrap=True)  # paths are never broken across lines
# Options several commands share, defined once.
DatabaseUrl = Annotated[str | None, typer.Option("--database-url", help="Results database (default: "
                                                 "$SALES_ABILITY_DATABASE_URL, else sqlite:///results.db here).")]
ReportThresholds = Annotated[Path, typer.Option("--thresholds", help="KB.json, to render reports again without them.")]
Inbox = Annotated[Path | None, typer.Option(help="A scoring inbox to reach besides those the applicant's batch runs "
                                                 "recorded and $SALES_ABILITY_INBOX.")]
Outbox = Annotated[Path | None, typer.Option(help="A batch outbox (shards and run reports) to reach besides those the "
                                                  "applicant's batch runs recorded and $SALES_ABILITY_OUTBOX.")]


def iso_date(value: str | None):
    """An ISO date (2026-12-01) as ``datetime.date``; anything else is refused by name."""
    from datetime import date

    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an ISO date (YYYY-MM-DD, e.g. 2026-12-01)") from None


@app.callback()
def main_options(
    verbose: Annotated[bool, typer.Option("--verbose", help="Show TensorFlow, FFmpeg and MLflow output too.")] = False,
    tracking_timeout: Annotated[float, typer.Option(
        min=0.1, help="Seconds to wait for each request to an MLflow tracking server (MLFLOW_HTTP_REQUEST_TIMEOUT wins).")] = 5.0,
) -> None:
    """Options for every command."""
    import os


    if verbose:
        os.environ[VERBOSE_ENV] = "1"
    try:
        settings()  # a bad or misspelt SALES_ABILITY_* variable is refused by name before anything runs
    except SettingsError as err:
        console.print(f"[bold red]error:[/] {err}", highlight=False, markup=True)
        raise typer.Exit(2) from None
    fail_fast_tracking(tracking_timeout)
    quiet()


def clear_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Print a SalesAbilityError as one clear line and exit 2, instead of a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except SalesAbilityError as err:
            console.print(f"[bold red]error:[/] {err}", highlight=False, markup=True)
            raise typer.Exit(2) from None

    return wrapper


def project_params(path: Path):
    """``params.yaml`` when it exists (validated), else the documented defaults."""
    return load_params(path) if path.is_file() else Params()


def interview_table(agreement: dict[str, float], title: str):
    """The Spearman agreement with ``interview``, for the configured directions and each trait flipped."""
    from rich.table import Table

    view = Table(title=title)
    view.add_column("directions")
    view.add_column("rho", justify="right")
    for key, rho in agreement.items():
        view.add_row("as configured" if key == "configured" else key.replace("flip_", "flip "), f"{rho:+.3f}")
    return view


@app.command("demo-data")
@clear_errors
def demo_data(
    out: Annotated[Path, typer.Argument(help="Folder to write the clips and labels into.")],
    clips: Annotated[int, typer.Option(min=3, help="Number of clips.")] = 36,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed writes the same bytes.")] = 7,
    clips_per_participant: Annotated[int, typer.Option(min=1, help="Clips of each person.")] = 4,
    frames: Annotated[int, typer.Option(min=1, help="Frames per clip (at least 60 for featurize).")] = 64,
    fps: Annotated[int, typer.Option(min=1, help="Frames per second.")] = 15,
    layout: Annotated[str, typer.Option(help="demo (labels.csv) or first_impressions (annotation pickles).")] = "demo",
) -> None:
    """Write the embedded demo dataset: interview-like clips of real faces with planted trait signals."""
    written = write_demo_dataset(
        out, clips=clips, seed=seed, clips_per_participant=clips_per_participant,
        frames=frames, fps=fps, layout=layout, progress=True,
    )
    people = len({c.participant_id for c in written})
    console.print(f"wrote {len(written)} clips of {people} participants to {out} ({layout} layout)")


@ipip50_app.command("score")
@clear_errors
def ipip50_score(
    answers: Annotated[Path, typer.Argument(help="CSV with participant_id, q1..q50 (answers 1..5).")],
    out: Annotated[Path, typer.Option("--out", help="CSV to write: participant_id and the five traits.")],
) -> None:
    """Score IPIP-50 answer sheets into Big Five traits in [0, 1]; any bad answer writes nothing."""
    import pandas as pd

    if not answers.is_file():
        raise IPIPError(f"{answers}: file not found")
    scores = score_sheet(pd.read_csv(answers, dtype={"participant_id": str}), source=answers)
    write_csv_atomic(out, scores)
    console.print(f"scored {len(scores)} participants -> {out}")


@app.command("manifest")
@clear_errors
def manifest(
    raw_dir: Annotated[Path, typer.Argument(help="The dataset's raw folder.")],
    out: Annotated[Path, typer.Option("--out", help="CSV to write the clip manifest to.")],
    params: Annotated[Path, typer.Option(help="params.yaml to read the dataset and split from.")] = Path("params.yaml"),
) -> None:
    """List the active dataset's clips with participant, split and labels (checks the dataset)."""
    table = build_manifest(raw_dir, load_params(params))
    write_csv_atomic(out, table)
    counts = table["split"].value_counts().to_dict()
    console.print(f"{len(table)} clips, {table['participant_id'].nunique()} participants, splits {counts} -> {out}")


@app.command("ingest")
@clear_errors
def ingest(
    website_data: Annotated[Path | None, typer.Option("--from", help="The website's data folder (collect serve "
                                                      "--data-dir; default $SALES_ABILITY_COLLECT_DATA).")] = None,
    project: Annotated[Path, typer.Option("--project", help="The DVC project folder.")] = Path("."),
    mlflow_log: Annotated[bool, typer.Option("--mlflow/--no-mlflow", help="Log the counts (no ids) to MLflow's "
                                             "sales-ability-ingest experiment.")] = True,
) -> None:
    """Take the website's complete, consented participants into data/raw/collected and record its new DVC version
    (`dvc add`); the withdrawn are dropped, those that cannot be trained on left out with the reason."""
    website_data = website_data or settings().collect_data
    if website_data is None:
        raise IngestError("no website data folder: pass --from or set SALES_ABILITY_COLLECT_DATA")
    result = ingest_collected(website_data, project, log_to_mlflow=mlflow_log)
    for participant, reason in result.rejected.items():
        console.print(f"left out {participant}: {reason}", highlight=False)
    counts = result.counts()
    state = f"new version {result.version}" if result.changed else "unchanged (no new version)"
    console.print(f"{result.dataset}: {counts['participants']} participants, {counts['new']} new, {counts['withdrawn']} "
                  f"withdrawn, {counts['rejected']} left out; {state}", highlight=False)
    if result.changed:
        console.print(f"commit it: git add {result.dataset}.dvc && git commit (the retraining DAG records it on its "
                      "branch)", highlight=False)


@app.command("forget")
@clear_errors
def forget(
    person_id: Annotated[str | None, typer.Argument(help="The participant's or applicant's id (the website's 16 "
                                                       "characters). Omit with --requested or --status.")] = None,
    project: Annotated[Path, typer.Option("--project", help="The DVC project folder.")] = Path("."),
    website_data: Annotated[Path | None, typer.Option("--from", help="The website's data folder (default "
                                                      "$SALES_ABILITY_COLLECT_DATA): its copy goes too.")] = None,
    remote: Annotated[list[str] | None, typer.Option("--remote", help="A DVC remote to purge (repeatable; default: "
                                                     "every remote the project configures, each must answer).")] = None,
    requested: Annotated[bool, typer.Option("--requested", help="Forget everyone the website's withdrawals asked "
                                            "for (what the retraining DAG's ingest does).")] = False,
    status: Annotated[bool, typer.Option("--status", help="List the erasure requests with their age; exit 1 when one "
                                         "is older than --days and not complete.")] = False,
    days: Annotated[float, typer.Option("--days", help="The deadline for --status.")] = DEADLINE_DAYS,
    commit: Annotated[bool, typer.Option("--commit/--no-commit", help="Commit the new version and the record on "
                                         "the current branch.")] = True,
    sweep: Annotated[bool, typer.Option("--sweep/--no-sweep", help="Then `dvc gc` every object no commit, branch, "
                                        "tag, experiment or the workspace names, in the cache and on the remotes "
                                        "(outputs of runs never committed hold everyone of their time).")] = True,
    db: DatabaseUrl = None,
) -> None:
    """Forget a person everywhere: the website, the collected dataset (a new version), every DVC object holding
    their answers or crops in any version, locally and on the remotes (face-tensor shards, manifests and
    calibration sets rewritten without them), MLflow's artifacts and the results database. Models trained with
    them are flagged and the stages that used them left to re-run. An interrupted run resumes; the erasure record
    (erasures/<request>.json) holds no personal data."""
    website_data = website_data or settings().collect_data
    if status:
        _print_erasure_status(project, website_data, days)
        return
    kwargs = {"remotes": remote, "results_db": db, "commit": commit, "sweep": sweep,
              "progress": lambda line: console.print(f"  {line}", highlight=False)}
    if requested:
        if website_data is None:
            raise SalesAbilityError("--requested needs the website's data folder: pass --from or set "
                                    "SALES_ABILITY_COLLECT_DATA")
        results = forget_requested(website_data, project, **kwargs)
    elif person_id:
        results = [forget_person(person_id, project, website_data, **kwargs)]
    else:
        raise typer.BadParameter("name the person, or pass --requested or --status")
    for done in results:
        r = done.record
        deleted = r.removed.get("dvc_objects_deleted", {})
        console.print(f"{r.request}: complete; person {r.person[:12]}; DVC objects deleted "
                      f"{', '.join(f'{k} {v}' for k, v in deleted.items())}; {len(r.no_longer_reproducible)} earlier "
                      f"outputs no longer reproducible; {len(r.models_flagged)} MLflow runs and versions flagged; "
                      f"stages to re-run: {', '.join(r.stale_stages) or 'none'}", highlight=False)
        console.print(f"  record: {done.path}" + (f" (commit {done.committed[:10]})" if done.committed else
                                                 " (not committed)"), highlight=False)
    if requested and not results:
        console.print("no withdrawal waiting")


def _print_erasure_status(project: Path, website_data: Path | None, days: float) -> None:
    from rich.table import Table

    rows = erasure_status(project, website_data)
    view = Table(title=f"erasure requests (deadline {days:g} days)")
    for column in ("request", "person (salted hash)", "requested", "age (days)", "status", "completed"):
        view.add_column(column)
    late = [r for r in rows if r.overdue_after(days)]
    for r in rows:
        style = "red" if r in late else None
        view.add_row(r.request, r.person, r.requested, f"{r.age_days:g}", r.status, r.completed or "-", style=style)
    console.print(view)
    if late:
        console.print(f"[red]{len(late)} request(s) older than {days:g} days and not complete[/]")
        raise typer.Exit(1)


@app.command("featurize")
@clear_errors
def featurize(
    inputs: Annotated[list[Path], typer.Argument(help="Video files or folders (searched recursively).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the Parquet shards and rejects.csv.")],
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    strict: Annotated[bool, typer.Option(help="Exit non-zero when any video was rejected.")] = False,
    params: Annotated[Path, typer.Option(help="params.yaml (featurize section).")] = Path("params.yaml"),
) -> None:
    """Cut videos into segments of about featurize.clip_seconds and turn each into 60 face crops (64x64 RGB
    uint8) in sharded Parquet; bad videos go to rejects.csv."""
    settings = project_params(params).featurize
    summary = featurize_manifest(manifest_from_inputs(inputs, settings), out, settings, workers=workers)
    for reject in summary.rejects:
        console.print(f"[yellow]rejected[/] {reject['source']}: {reject['reason']}", highlight=False)
    console.print(summary.line())
    if strict and summary.rejected:
        raise typer.Exit(1)


@thresholds_app.command("fit")
@clear_errors
def thresholds_fit(
    labels: Annotated[Path, typer.Option("--labels", help="First Impressions annotation .pkl, or CSV/Parquet with the five traits.")],
    out: Annotated[Path, typer.Option("--out", help="KB.json to write.")],
    params: Annotated[Path, typer.Option(help="params.yaml (knowledge_base section: directions, candidates).")] = Path("params.yaml"),
) -> None:
    """Fit a distribution per trait (chosen by AIC, KS-checked); thresholds are its 10%..90% quantiles."""
    from sales_ability.knowledge.fit import fit_knowledge_base, read_trait_labels

    project = project_params(params)
    kbp = project.knowledge_base
    frame = read_trait_labels(labels, project.dataset.fi_neuroticism_is_stability)
    kb = fit_knowledge_base(frame, dict(kbp.directions), list(kbp.distributions), source=str(labels))
    save_knowledge_base(kb, out)
    for trait, entry in kb["traits"].items():
        d = entry["distribution"]
        console.print(f"{trait:18} {entry['direction']:8} {d['name']:9} KS={d['ks_statistic']:.3f} "
                      + " ".join(f"{t:.3f}" for t in entry["thresholds"]), highlight=False)
    console.print(f"fitted on {kb['n']} rows -> {out}")


@thresholds_app.command("paper")
@clear_errors
def thresholds_paper(out: Annotated[Path, typer.Option("--out", help="KB.json to write.")]) -> None:
    """Write the paper's Table IV verbatim (note: its agreeableness row gives uneven bins)."""
    save_knowledge_base(paper_knowledge_base(), out)
    console.print(f"paper Table IV -> {out}")


@thresholds_app.command("compare")
@clear_errors
def thresholds_compare(
    labels: Annotated[Path, typer.Option("--labels", help="Labels to fit on and to measure bin shares with.")],
    params: Annotated[Path, typer.Option(help="params.yaml (knowledge_base section).")] = Path("params.yaml"),
    csv: Annotated[Path | None, typer.Option(help="Also write the comparison as CSV.")] = None,
) -> None:
    """Fitted thresholds against the paper's Table IV, with each score bin's share of the population."""
    from rich.table import Table

    from sales_ability.knowledge.fit import (
        compare_with_paper,
        fit_knowledge_base,
        read_trait_labels,
        threshold_match,
    )

    project = project_params(params)
    kbp = project.knowledge_base
    frame = read_trait_labels(labels, project.dataset.fi_neuroticism_is_stability)
    kb = fit_knowledge_base(frame, dict(kbp.directions), list(kbp.distributions), source=str(labels))
    table = compare_with_paper(frame, kb)
    out = Console()
    for trait, part in table.groupby("trait", sort=False):
        view = Table(title=f"{trait} ({kb['traits'][trait]['direction']}), n={len(frame)}")
        for column in ("score", "fitted range", "fitted share", "Table IV range", "Table IV share"):
            view.add_column(column, justify="right")
        for r in part.itertuples():
            flag = " [red]uneven[/]" if abs(r.paper_share - 0.1) > 0.05 else ""
            view.add_row(str(r.score), r.fitted_range, f"{r.fitted_share:.1%}", r.paper_range, f"{r.paper_share:.1%}{flag}")
        out.print(view)
    match = Table(title="Fitted deciles against Table IV, per trait (largest absolute difference of the 9 cut points)")
    for column in ("trait", "fitted", "Table IV", "max |diff|", "within 0.01"):
        match.add_column(column, justify="right")
    for trait, row in threshold_match(kb).items():
        match.add_row(trait, " ".join(f"{v:.2f}" for v in row["fitted"]), " ".join(f"{v:.2f}" for v in row["paper"]),
                      f"{row['max_abs_diff']:.3f}", "[green]yes[/]" if row["max_abs_diff"] <= 0.01 else "no")
    out.print(match)
    from sales_ability.knowledge.validation import interview_agreement

    agreement = interview_agreement(frame, kb)
    if agreement is not None:
        out.print(interview_table(agreement, "Spearman of the sales score with First Impressions' `interview` (fitted thresholds)"))
    if csv:
        write_csv_atomic(csv, table)


@app.command("rate")
@clear_errors
def rate_command(
    traits: Annotated[Path, typer.Argument(help="Traits to rate: CSV/Parquet with clip_id and the five traits, or a "
                                                "First Impressions annotation .pkl (read on the project's scale).")],
    thresholds: Annotated[Path, typer.Option("--thresholds", help="KB.json (fitted or paper).")],
    out: Annotated[Path, typer.Option("--out", help="CSV to write: input plus score_<trait> and sales_score.")],
    params: Annotated[Path, typer.Option(help="params.yaml (dataset.fi_neuroticism_is_stability).")] = Path("params.yaml"),
) -> None:
    """Turn traits into 1..10 scores and a sales score; bad rows are reported by clip id, the rest rated.
    With an ``interview`` column (First Impressions), also print the Spearman agreement per direction."""
    from sales_ability.knowledge.fit import read_trait_table
    from sales_ability.knowledge.validation import interview_agreement

    kb = load_knowledge_base(thresholds)
    frame = read_trait_table(traits, project_params(params).dataset.fi_neuroticism_is_stability)
    rated, bad = rate(frame, kb)
    write_csv_atomic(out, rated)
    for row in bad.itertuples():
        console.print(f"[yellow]not rated[/] {row.clip_id}: {row.reason}", highlight=False)
    agreement = interview_agreement(rated, kb)
    if agreement is not None:
        console.print(interview_table(agreement, f"Spearman of the sales score with `interview` ({len(rated)} rows)"))
    console.print(f"rated {len(rated)} rows, {len(bad)} bad -> {out}")


@app.command("score")
@clear_errors
def score(
    inputs: Annotated[list[Path], typer.Argument(help="Applicant folders (answer_<n>.<ext> inside) or loose videos, "
                                                      "or folders of them (searched recursively).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for applicants.*, results.* (per segment), rejects.csv, report.html.")],
    model: Annotated[str | None, typer.Option(
        "--model", help="Model URI: models:/NAME@alias, models:/NAME/VERSION, runs:/..., or a .keras path "
                        "[default: models:/<registry.model_name>@champion].")] = None,
    thresholds: Annotated[Path | None, typer.Option(
        "--thresholds", help="KB.json (fitted or paper) [default: the knowledge base logged with the model version].")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Featurize worker processes.")] = 1,
    params: Annotated[Path, typer.Option(
        help="params.yaml: registry.model_name, and a featurize section that must match the model's training "
             "settings (when the file exists).")] = Path("params.yaml"),
    db: DatabaseUrl = None,
) -> None:
    """Score applicants end to end: cut every answer into the model's segments, featurize (with the settings
    the model was trained with), predict traits, rate with intervals, aggregate per applicant, and write a
    ranked HTML report."""
    project = project_params(params)
    uri = model or champion_uri(project.registry.model_name)
    from datetime import UTC, datetime

    from sales_ability.results.store import database_url

    result = score_videos(inputs, out, load_knowledge_base(thresholds) if thresholds else None, uri,
                          project.featurize if params.is_file() else None, workers, coverage=project.intervals.coverage)
    url = database_url(Path("."), db)
    counts = merge_shards([str(out)], out, thresholds, uri, url, f"score-{datetime.now(UTC):%Y%m%dT%H%M%S%f}",
                          write_run_report=False)
    console.print(f"results database {url.split('@')[-1]}: {counts['applicants_new']} new applicants", highlight=False)
    console.print(result.line())


@app.command("report")
@clear_errors
def report_command(
    out: Annotated[Path, typer.Option("--out", help="HTML file to write.")],
    thresholds: Annotated[Path, typer.Option("--thresholds", help="KB.json (directions shown).")] = Path("models/knowledge_base.json"),
    since: Annotated[str | None, typer.Option(callback=iso_date, help="Only applicants scored on or after this ISO date (2026-12-01).")] = None,
    top: Annotated[int | None, typer.Option(min=1, help="Only the N best sales scores.")] = None,
    applicant: Annotated[str | None, typer.Option(help="Only this applicant.")] = None,
    run_id: Annotated[str | None, typer.Option("--run", help="Only the applicants one batch run scored.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many applicants (bounds the file's size).")] = 200,
    db: DatabaseUrl = None,
) -> None:
    """Render a candidate report from the results database: any selection, at most --limit applicants."""
    from sales_ability.results.selection import render_selection, selection
    from sales_ability.results.store import database_url

    url = database_url(Path("."), db)
    query = {"since": since, "top": top, "applicant": applicant, "run_id": run_id, "limit": limit}
    render_selection(url, out, load_knowledge_base(thresholds), **query)
    console.print(f"report of {len(selection(url, **query)[0])} applicants -> {out} ({out.stat().st_size / 1024:.0f} KiB)")


@app.command("audit")
@clear_errors
def audit_command(
    out_dir: Annotated[Path, typer.Option("--out-dir", help="Folder for audit.csv and audit.html.")] = Path("reports"),
    since: Annotated[str | None, typer.Option(callback=iso_date, help="Applicants scored on or after this ISO date (UTC).")] = None,
    until: Annotated[str | None, typer.Option(callback=iso_date, help="Applicants scored on or before this ISO date (UTC).")] = None,
    metrics: Annotated[Path, typer.Option(help="The model's metrics/evaluate.json, summarised as its card.")] = Path("metrics/evaluate.json"),
    model_version: Annotated[str | None, typer.Option(help="Only applicants scored by this model version (needed when "
                                                           "the selection holds several).")] = None,
    db: DatabaseUrl = None,
) -> None:
    """Bias audit (NYC Local Law 144) of the scored applicants in the results database: per sex, race/ethnicity
    and intersection, applicants, scoring rate and impact ratio; unknown counted, small categories marked."""
    import json

    from sales_ability.results.selection import audit_applicants
    from sales_ability.results.store import database_url

    url = database_url(Path("."), db)
    from sales_ability.results.selection import MixedVersions

    try:
        people = audit_applicants(url, since, until, model_version)
    except MixedVersions as err:
        raise typer.BadParameter(str(err)) from None
    if people.empty:
        raise typer.BadParameter("no scored applicants in that selection")
    card = card_summary(json.loads(metrics.read_text()).get("test", {})) if metrics.is_file() else "no model metrics given"
    table = write_audit(people, out_dir, f"results database ({url.split('@')[-1]})", card)
    worst = table.dropna(subset=["impact_ratio"]).groupby("dimension")["impact_ratio"].min().to_dict()
    console.print(f"audit of {len(people)} applicants -> {out_dir / 'audit.html'}, {out_dir / 'audit.csv'}; lowest impact "
                  f"ratio " + ", ".join(f"{d} {v:.3f}" for d, v in worst.items()), highlight=False)


@applicants_app.command("delete")
@clear_errors
def applicants_delete(
    applicant_id: Annotated[str, typer.Argument(help="The applicant's id as the results database holds it (their folder "
                                                     "name, or a loose video's stem).")],
    inbox: Inbox = None,
    outbox: Outbox = None,
    thresholds: ReportThresholds = Path("models/knowledge_base.json"),
    db: DatabaseUrl = None,
) -> None:
    """Forget one applicant everywhere: database rows, face strips, ledger and self-report; their recorded
    files strictly inside an inbox; their rows in every shard; the run reports that listed them. Leaves a
    tombstone (no personal data) so a batch run in flight cannot bring them back. An empty, malformed or
    unknown id erases nothing and exits 2."""
    from sales_ability.results.erasure import erase_applicant
    from sales_ability.results.store import database_url

    done = erase_applicant(applicant_id, database_url(Path("."), db), inbox, outbox, _kb_or_none(thresholds))
    _print_erasure(done)


@outcomes_app.command("import")
@clear_errors
def outcomes_import(
    csv_file: Annotated[Path, typer.Argument(help="CSV: applicant_id, hire_date (YYYY-MM-DD), optionally requisition and "
                                                  "period, and one or more numeric outcome columns (quota attainment, "
                                                  "revenue, a supervisor's rating...).")],
    db: DatabaseUrl = None,
) -> None:
    """Import hires' outcomes into the results database in one transaction: every bad row is named with its reason
    and nothing is imported (exit 2); people the database never scored are imported and counted."""
    from sales_ability.results.store import database_url

    done = import_outcomes(csv_file, database_url(Path("."), db))
    console.print(f"imported {done.figures} figures ({', '.join(done.outcomes)}) of {done.people} people"
                  + (f"; {done.already_held} already held, left as they were" if done.already_held else "")
                  + (f"; {len(done.never_scored)} of them never scored, so no study can use them"
                     if done.never_scored else ""), highlight=False)


@app.command("validate")
@clear_errors
def validate(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for validity.json and validity.html.")] = Path("reports/validity"),
    model_version: Annotated[str | None, typer.Option(help="Study the scores of this model version (default: the one "
                                                           "that scored the most people with outcomes).")] = None,
    requisition: Annotated[str | None, typer.Option(help="Only the hires of this requisition.")] = None,
    period: Annotated[str | None, typer.Option(help="Only the figures of this period (default: each person's mean).")] = None,
    effect: Annotated[float, typer.Option(help="The correlation the power figures are stated for.", min=0.01, max=0.99)] = 0.2,
    correct_range: Annotated[bool, typer.Option(help="Also show r corrected for range restriction (Thorndike II), "
                                                     "labelled, beside r.")] = False,
    mlflow_run: Annotated[bool, typer.Option("--mlflow/--no-mlflow", help="Log the study as an MLflow run.")] = True,
    thresholds: Annotated[Path | None, typer.Option("--thresholds", help="The knowledge base the scores were rated with: "
                                                    "an offered role profile is written beside the report as a knowledge "
                                                    "base built on it (profile_<outcome>.json).")] = None,
    db: DatabaseUrl = None,
) -> None:
    """Does the score predict sales? r of the sales score (and of each trait) with each imported outcome, its 95%
    interval, p (Holm-adjusted across outcomes for the sales score), power and the N needed; per sex and
    race/ethnicity where the groups allow; a verdict in plain words that never calls the score valid without a
    significant positive relation."""
    from sales_ability.outcomes.validate import run_validation
    from sales_ability.results.store import database_url

    if mlflow_run:
        fail_fast_tracking()
    report = run_validation(database_url(Path("."), db), out_dir, model_version, requisition, period, effect,
                            correct_range, mlflow_run, load_knowledge_base(thresholds) if thresholds else None)
    for outcome, text in report["verdicts"].items():
        console.print(f"{outcome}: {text}", highlight=False)
    for outcome, profile in report["profiles"].items():
        console.print(f"{outcome} profile {profile['reason']}" + (f" -> {profile['file']} (score with it: "
                      f"sales-ability score ... --thresholds {profile['file']})" if profile.get("file") else ""), highlight=False)
    console.print(f"{report['people']} people -> {out_dir / 'validity.html'}, {out_dir / 'validity.json'}", highlight=False)


@applicants_app.command("migrate")
@clear_errors
def applicants_migrate(db: DatabaseUrl = None) -> None:
    """Bring the results database's schema to this release's Alembic head: run once per deployment (`make airflow`,
    the compose file's airflow-init, the stack test). Commands and DAGs then find it current; a database behind
    is still upgraded on first use, under the same lock."""
    from sales_ability.results.store import database_url, migrate

    before, after = migrate(database_url(Path("."), db))
    console.print(f"results database at revision {after}" + ("" if before == after else f" (was {before or 'empty'})"))


@applicants_app.command("purge")
@clear_errors
def applicants_purge(
    older_than: Annotated[float, typer.Option("--older-than", min=0, metavar="DAYS", help="Erase applicants scored more than DAYS ago.")],
    inbox: Inbox = None,
    outbox: Outbox = None,
    thresholds: ReportThresholds = Path("models/knowledge_base.json"),
    db: DatabaseUrl = None,
) -> None:
    """Retention: erase every applicant scored more than DAYS ago, everywhere (e.g. nightly from cron)."""
    from sales_ability.results.erasure import purge_applicants
    from sales_ability.results.store import database_url

    erased = purge_applicants(older_than, database_url(Path("."), db), inbox, outbox, _kb_or_none(thresholds))
    for done in erased:
        _print_erasure(done)
    console.print(f"purged {len(erased)} applicants scored more than {older_than:g} days ago")


@promote_app.command("propose")
@clear_errors
def promote_propose(
    candidate: Annotated[Path, typer.Option(help="The evaluate stage's candidate.")] = Path("models/candidate.json"),
    manifest: Annotated[Path, typer.Option(help="Manifest whose validation people are the selection set.")] = Path(
        "data/manifests/finetune.csv"),
    out_dir: Annotated[Path, typer.Option(help="Where comparison.json and comparison.md go.")] = Path("reports/promotion"),
    params: Annotated[Path, typer.Option(help="params.yaml (intervals.coverage, registry.coverage_tolerance).")] = Path("params.yaml"),
) -> None:
    """Register the candidate as `challenger` and compare it with the champion on the selection people (never
    test), each with its own featurize settings and knowledge base; a person then decides (`promote decide`)."""
    project = project_params(params)
    try:
        result = propose(candidate, manifest, project.intervals.coverage, project.registry.coverage_tolerance, out_dir)
    except AlreadyDecided as why:  # nothing new was trained: nothing to ask anyone, and not an error
        console.print(str(why), highlight=False)
        return
    console.print(result["markdown"], highlight=False, markup=False)
    console.print(f"candidate {result['model_name']} version {result['version']} awaits a decision ({out_dir / 'comparison.md'}): "
                  f"sales-ability promote decide {result['version']} --approve|--reject --by NAME --reason TEXT", highlight=False)


@promote_app.command("decide")
@clear_errors
def promote_decide(
    version: Annotated[str, typer.Argument(help="The registered version proposed (`promote propose` printed it).")],
    approve: Annotated[bool, typer.Option("--approve/--reject", help="Move champion to it, or leave the champion.")],
    by: Annotated[str, typer.Option("--by", help="Who decides (recorded on the version).")],
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded on the version).")],
    override: Annotated[bool, typer.Option("--override", help="Approve although a gate failed (the reason says why).")] = False,
    params: Annotated[Path, typer.Option(help="params.yaml (registry.model_name).")] = Path("params.yaml"),
) -> None:
    """Record a person's decision on a proposed version: who, when, why and the gates they saw go on the version;
    only an approval moves `champion`."""
    done = decide(project_params(params).registry.model_name, version, approve, by, reason, override)
    console.print(f"version {done['version']}: {done['decision']} by {done['decided_by']} at {done['decided_at']}", highlight=False)


def _kb_or_none(path: Path) -> dict | None:
    return load_knowledge_base(path) if path.is_file() else None


def _print_erasure(done) -> None:
    rows = ", ".join(f"{n} {t}" for t, n in done.rows.items())
    for warning in done.warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    console.print(f"erased {done.applicant_id}: rows {rows}; {len(done.files)} files or folders removed; "
                  f"{len(done.shards_scrubbed)} shards scrubbed; {len(done.reports_rewritten)} reports rendered again",
                  highlight=False)


@collect_app.command("serve")
def collect_serve(
    data_dir: Annotated[Path, typer.Option("--data-dir", help="Where participant folders are written.")] = Path("collected_data"),
    export_dir: Annotated[Path, typer.Option("--export-dir", help="Collected-dataset folder the admin export fills (DVC-tracked).")] = Path("data/raw/collected"),
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    max_upload_mb: Annotated[int, typer.Option(min=1, help="Largest answer recording accepted (MB).")] = 100,
    retention_days: Annotated[float, typer.Option(min=0, help="Unfinished participants older than this are listed as stale (see `collect purge`).")] = 30.0,
    create_per_minute: Annotated[float, typer.Option(min=0.1, help="New participants allowed per client address and minute (burst 5).")] = 10.0,
    docs: Annotated[bool, typer.Option("--docs", help="Serve the API docs at /api/docs (off by default).")] = False,
    mode: Annotated[str, typer.Option(help="research (answers + IPIP-50, for training) or screening (a job applicant's "
                                           "answers, published into --inbox for batch scoring).")] = "research",
    inbox: Annotated[Path | None, typer.Option(help="Scoring inbox that screening mode publishes completed applicants into "
                                                    "(the batch DAG's inbox; default $SALES_ABILITY_INBOX).")] = None,
    outbox: Annotated[Path | None, typer.Option(help="Screening (required, or $SALES_ABILITY_OUTBOX): the batch outbox, so "
                                                     "that a withdrawal also erases the applicant's shards and reports.")] = None,
    db: DatabaseUrl = None,
    forwarded_allow_ips: Annotated[str | None, typer.Option(
        "--forwarded-allow-ips", help="Reverse proxies whose X-Forwarded-For is trusted (comma-separated addresses); "
                                      "none by default, so a client cannot forge its address.")] = None,
    max_checks: Annotated[int, typer.Option(min=1, help="Recordings checked at once (more: 503, Retry-After).")] = 2,
    max_pixels: Annotated[int, typer.Option(min=64 * 64, help="Largest picture accepted (width x height).")] = 1920 * 1080,
    max_open_per_address: Annotated[int, typer.Option(min=1, help="Unfinished participants per client address.")] = 3,
    min_free_mb: Annotated[int | None, typer.Option(min=0, help="Free disk space an upload needs [default: twice --max-upload-mb].")] = None,
) -> None:
    """Serve the collection website (admin API needs SALES_ABILITY_ADMIN_TOKEN in the environment: 32 characters
    at least, never the example's placeholder)."""
    import uvicorn

    from sales_ability.collect.app import ConfigurationError, WebsiteSettings, create_app
    from sales_ability.collect.server import server_config

    if mode not in MODES:
        raise typer.BadParameter(f"--mode must be one of {', '.join(MODES)}")
    from sales_ability.results.erasure import INBOX_ENV, OUTBOX_ENV

    deployment = settings()
    inbox, outbox = inbox or deployment.inbox, outbox or deployment.outbox
    if mode == "screening" and (inbox is None or outbox is None):  # a withdrawal must reach both
        raise typer.BadParameter("--mode screening needs --inbox and --outbox (the batch scoring DAG's folders, or "
                                 f"${INBOX_ENV} and ${OUTBOX_ENV}): a withdrawal erases the applicant from both")
    on_withdraw = on_self_report = on_apply = None
    if mode == "screening":  # a withdrawal leaves no trace anywhere the system wrote: the same erasure as the CLI's
        from sales_ability.results.erasure import erase_applicant
        from sales_ability.results.store import database_url

        url = database_url(Path("."), db)

        def on_withdraw(pid: str) -> None:
            erase_applicant(pid, url, inbox, outbox, _kb_or_none(Path("models/knowledge_base.json")), request="website")

        def on_self_report(pid: str, report: dict) -> None:  # for the audit only: never beside the answers
            from sales_ability.results.selection import record_self_report

            record_self_report(url, pid, report)

        def on_apply(pid: str, application: dict) -> None:  # the link's job and tracking reference, for the review
            from sales_ability.review.requisitions import record_application

            record_application(url, pid, application["requisition"], application.get("reference"))

    try:
        site = WebsiteSettings(export_dir=export_dir, max_upload_bytes=max_upload_mb * 1024 * 1024, docs=docs,
                               retention_days=retention_days, create_per_minute=create_per_minute, mode=mode,
                               inbox=inbox, limits=RecordingLimits(max_pixels=max_pixels), max_checks=max_checks,
                               max_open_per_address=max_open_per_address,
                               min_free_bytes=None if min_free_mb is None else min_free_mb * 1024 * 1024)
        app_ = create_app(data_dir, site, on_withdraw=on_withdraw, on_self_report=on_self_report, on_apply=on_apply)
    except ConfigurationError as err:
        raise typer.BadParameter(str(err)) from None
    uvicorn.Server(server_config(app_, host, port, forwarded_allow_ips)).run()


@collect_app.command("purge")
def collect_purge(
    older_than: Annotated[float, typer.Option("--older-than", min=0, help="Remove unfinished participants who consented more than DAYS ago.", metavar="DAYS")],
    data_dir: Annotated[Path, typer.Option("--data-dir", help="Where participant folders are written.")] = Path("collected_data"),
) -> None:
    """Remove participants who consented but never completed, once older than the retention (complete ones
    are never touched; a withdrawal goes through the admin API)."""
    removed = ParticipantStore(data_dir).purge(older_than)
    for pid in removed:
        console.print(f"removed unfinished participant {pid}", highlight=False)
    console.print(f"purged {len(removed)} unfinished participants older than {older_than:g} days from {data_dir}")


@app.command("table3")
@clear_errors
def table3(
    faces: Annotated[Path, typer.Option(help="Featurized folder with train/validation/test splits.")] = Path("data/faces/train"),
    presets: Annotated[str, typer.Option(help="Comma-separated presets (default: every Table III backbone).")] = "",
    epochs: Annotated[int | None, typer.Option(min=1, help="Override train.epochs.")] = None,
    out: Annotated[Path, typer.Option(help="Comparison table (CSV).")] = Path("reports/table3.csv"),
    metrics: Annotated[Path, typer.Option(help="DVC metrics file.")] = Path("metrics/table3.json"),
    params: Annotated[Path, typer.Option(help="params.yaml.")] = Path("params.yaml"),
) -> None:
    """Reproduce the paper's Table III: train every backbone preset, compare MSE, mean accuracy, size, time."""
    from rich.table import Table

    from sales_ability.model.network import TABLE_III

    names = [p.strip() for p in presets.split(",") if p.strip()] or list(TABLE_III)
    try:
        frame = run_table3(faces, names, load_params(params), out, metrics, epochs)
    except ValueError as err:
        raise typer.BadParameter(str(err)) from None
    view = Table(title="Table III (reproduced)")
    for column in ("preset", "lstm", "dense", "parameters", "train_seconds", "mse", "mean_accuracy", "paper_mean_accuracy"):
        view.add_column(column, justify="right")
    for r in frame.itertuples():
        view.add_row(r.preset, r.lstm, r.dense, f"{r.parameters:,}", f"{r.train_seconds}", f"{r.mse:.5f}",
                     f"{r.mean_accuracy:.4f}", "" if pd_isna(r.paper_mean_accuracy) else f"{r.paper_mean_accuracy:.4f}")
    Console().print(view)


def pd_isna(value: object) -> bool:
    import math

    return value is None or (isinstance(value, float) and math.isnan(value))


@app.command("presets")
def presets_command() -> None:
    """List the model presets (the paper's Table III rows, plus small CNNs for demos and tests)."""
    from rich.table import Table

    from sales_ability.model.network import PRESETS

    view = Table(title="model presets")
    for column in ("preset", "backbone", "LSTM", "Dense", "paper MSE", "paper mean acc."):
        view.add_column(column)
    for name, p in PRESETS.items():
        view.add_row(name, p.backbone, "+".join(map(str, p.lstm_units)), "+".join(map(str, p.dense_units)),
                     "" if p.paper_mse is None else str(p.paper_mse), "" if p.paper_mean_accuracy is None else str(p.paper_mean_accuracy))
    Console().print(view)


@app.command("summary")
def summary(root: Annotated[Path, typer.Argument(help="Project folder.")] = Path(".")) -> None:
    """Print what the pipeline produced (clips, face tensors, knowledge base, metrics)."""
    print_summary(root)


@app.command("plots-offline")
def plots_offline(root: Annotated[Path, typer.Argument(help="The DVC project folder.")] = Path(".")) -> None:
    """Make `dvc plots show` / `dvc plots diff` render without internet: fetch Vega, Vega-Lite and Vega-Embed
    once from the npm registry (pinned, integrity-checked) into .dvc/plots_offline.html and point DVC at it
    (.dvc/config.local). `make install` runs it."""
    try:
        target = install_offline_template(root)
    except PlotsTemplateError as err:
        console.print(f"[bold red]error:[/] {err}; `dvc plots show` keeps DVC's page (Vega from a CDN)", highlight=False)
        raise typer.Exit(2) from None
    console.print(f"dvc plots show renders offline: {target}")


def _review_url(db: str | None) -> str:
    from sales_ability.results.store import database_url

    return database_url(Path("."), db)


@account_app.command("create")
@clear_errors
def account_create(
    username: Annotated[str, typer.Argument(help="Lower-case letters, digits, . _ - (2-64 characters).")],
    role: Annotated[str, typer.Option("--role", help="recruiter, auditor or admin.")] = "recruiter",
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from standard input "
                                                 "(scripts) instead of prompting twice.")] = False,
    db: DatabaseUrl = None,
) -> None:
    """Create a personal account (the password is stored as an Argon2id hash, at least 12 characters)."""
    import sys

    from sales_ability.review.accounts import create_account

    password = sys.stdin.readline().rstrip("\n") if password_stdin else typer.prompt("Password", hide_input=True,
                                                                                      confirmation_prompt=True)
    create_account(_review_url(db), username, role, password)
    console.print(f"account {username} ({role}) created", highlight=False)


@account_app.command("disable")
@clear_errors
def account_disable(
    username: Annotated[str, typer.Argument(help="The account to disable (its sessions end at once).")],
    enable: Annotated[bool, typer.Option("--enable", help="Enable a disabled account again instead.")] = False,
    db: DatabaseUrl = None,
) -> None:
    """Disable an account (its sessions end at once), or enable it again with --enable."""
    from sales_ability.review.accounts import set_disabled

    set_disabled(_review_url(db), username, disabled=not enable)
    console.print(f"account {username} {'enabled' if enable else 'disabled'}", highlight=False)


@requisition_app.command("create")
@clear_errors
def requisition_create(
    requisition_id: Annotated[str, typer.Argument(help="The job's id, as the screening link carries it "
                                                      "(?requisition=ID&ref=TRACKING_REFERENCE).")],
    title: Annotated[str, typer.Option("--title", help="The job's title, as recruiters see it.")],
    knowledge_base: Annotated[str, typer.Option("--knowledge-base", help="sales (the paper's sales profile) or a role "
                                                "profile's name.")] = "sales",
    recruiter: Annotated[list[str] | None, typer.Option("--recruiter", help="Assign this account (repeatable).")] = None,
    db: DatabaseUrl = None,
) -> None:
    """Open a requisition and assign its recruiters."""
    from sales_ability.review.requisitions import assign, create_requisition

    url = _review_url(db)
    create_requisition(url, requisition_id, title, knowledge_base)
    for name in recruiter or []:
        assign(url, requisition_id, name)
    console.print(f"requisition {requisition_id} opened ({', '.join(recruiter or []) or 'no recruiter yet'})", highlight=False)


@requisition_app.command("assign")
@clear_errors
def requisition_assign(
    requisition_id: Annotated[str, typer.Argument(help="The requisition.")],
    username: Annotated[str, typer.Argument(help="The recruiter's account.")],
    db: DatabaseUrl = None,
) -> None:
    """Assign a recruiter to a requisition."""
    from sales_ability.review.requisitions import assign

    assign(_review_url(db), requisition_id, username)
    console.print(f"{username} assigned to {requisition_id}", highlight=False)


@review_app.command("serve")
@clear_errors
def review_serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8010,
    insecure_cookie: Annotated[bool, typer.Option("--insecure-cookie", help="Send the session cookie over plain HTTP "
                                                  "too (a loopback trial only; behind TLS leave it off).")] = False,
    forwarded_allow_ips: Annotated[str | None, typer.Option(help="Trust X-Forwarded-* from these proxy addresses.")] = None,
    db: DatabaseUrl = None,
) -> None:
    """Run the review workspace: sign-in, requisitions by band, answers played in the browser, decisions, the event
    log and oversight figures; decisions and scored applicants go to $SALES_ABILITY_REVIEW_WEBHOOK_URL when set."""
    import uvicorn

    from sales_ability.collect.server import server_config
    from sales_ability.review.app import ReviewSettings, create_app

    deployment = settings()
    secret = deployment.review_webhook_secret.get_secret_value() if deployment.review_webhook_secret else None
    hook = deployment.review_webhook_url.get_secret_value() if deployment.review_webhook_url else None
    config = ReviewSettings(database_url=_review_url(db), webhook_url=hook, webhook_secret=secret,
                            cookie_secure=deployment.review_cookie_secure and not insecure_cookie)
    uvicorn.Server(server_config(create_app(config), host, port, forwarded_allow_ips)).run()


@review_app.command("export")
@clear_errors
def review_export(
    requisition_id: Annotated[str, typer.Argument(help="The requisition.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for <requisition>.csv and <requisition>.json.")] = Path("outbox/exports"),
    db: DatabaseUrl = None,
) -> None:
    """Write a requisition's applicants and decisions as CSV (spreadsheet-safe) and JSON for the tracking system."""
    from sales_ability.review.handoff import write_export
    from sales_ability.review.requisitions import RequisitionError, find_requisition

    url = _review_url(db)
    requisition = find_requisition(url, requisition_id)
    if requisition is None:
        raise RequisitionError(f"no requisition {requisition_id!r}")
    paths = write_export(url, requisition, out)
    console.print(f"wrote {paths['csv']} and {paths['json']}", highlight=False)


@review_app.command("deliver")
@clear_errors
def review_deliver(db: DatabaseUrl = None) -> None:
    """Queue newly scored applicants and send every due webhook event once (what the workspace's sender does every
    few seconds), e.g. from cron when the workspace is not running."""
    from sales_ability.review.handoff import WebhookError, deliver_due, queue_scored_applicants

    deployment = settings()
    if deployment.review_webhook_url is None:
        raise WebhookError("set SALES_ABILITY_REVIEW_WEBHOOK_URL (and _SECRET) to deliver")
    url = _review_url(db)
    queued = queue_scored_applicants(url)
    counts = deliver_due(url, deployment.review_webhook_url.get_secret_value(),
                         deployment.review_webhook_secret.get_secret_value() if deployment.review_webhook_secret else "")
    console.print(f"queued {queued} scored applicants; delivered {counts['delivered']}, failed {counts['failed']} "
                  f"(retried later), gave up {counts['gave_up']}", highlight=False)


@review_app.command("oversight")
@clear_errors
def review_oversight(
    mlflow: Annotated[bool, typer.Option("--mlflow/--no-mlflow", help="Log the aggregates (no applicant ids) to MLflow.")] = False,
    out: Annotated[Path | None, typer.Option("--out", help="Also write the figures as JSON here.")] = None,
    db: DatabaseUrl = None,
) -> None:
    """Print per requisition the selection rate, decisions against the score band and decisions without a played
    answer, each with n and a 95% interval (the same figures auditors see in the workspace)."""
    from sales_ability.review.oversight import log_oversight, oversight

    figures = oversight(_review_url(db))
    if not figures["requisitions"]:
        console.print("no decision recorded yet", highlight=False)
    for req, f in figures["requisitions"].items():
        parts = [f"{label} {f[key]['rate']:.2f} [{f[key]['ci95'][0]:.2f}, {f[key]['ci95'][1]:.2f}]"
                 for key, label in (("selection", "selection rate"), ("against_band", "against the band"),
                                    ("unwatched", "no answer played"))]
        console.print(f"{req}: {f['decisions']} decisions; " + "; ".join(parts), highlight=False)
    if out:
        write_json_atomic(out, figures)
    if mlflow and figures["requisitions"]:
        console.print(f"logged to MLflow run {log_oversight(figures)}", highlight=False)
