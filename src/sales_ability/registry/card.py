"""The model card: what a version is for, how it was measured and what it must not be used for (logged with every
candidate, registered as the version's description, summarised in reports and the audit)."""

from __future__ import annotations


def model_card(name: str, metrics: dict, data: dict, preset: str) -> str:
    """Markdown model card logged with every version."""
    test = metrics
    rows = "\n".join(
        f"| {t} | {test[t]['accuracy']:.4f} | {test[t]['baseline_accuracy']:.4f} | {test[t]['pearson']:.3f} | {test[t]['concordance']:.3f} |"
        for t in ("openness", "conscientiousness", "extraversion", "agreeableness", "neuroticism")
    )
    return f"""# Model card: {name} ({preset})

## Intended use
Estimates apparent Big Five traits from 60 face crops of a self-introduction clip; a knowledge base turns
them into a 1..10 sales score. **Decision support for a recruiter, never an automatic rejection**:
a person reads the report and decides.

## Data
- trained on: {data.get('train', '?')}
- fine-tuned on: {data.get('finetune', '?')}
- evaluated on: {data.get('test', '?')} ({test['n']} clips)

## Metrics (test split)
Eq. 1 mean accuracy **{test['mean_accuracy']:.4f}** against **{test['baseline_mean_accuracy']:.4f}** for
always predicting the training mean; MSE {test['mse']:.5f} (baseline {test['baseline_mse']:.5f}).

| trait | accuracy | baseline | Pearson | concordance |
| --- | --- | --- | --- | --- |
{rows}

## Per person (the unit a recruiter reads)
{_people_lines(test)}

## Reliability across an applicant's answers
{_reliability_lines(test)}

## Intervals
{_interval_lines(test)}

## Known caveats
- First Impressions labels are *apparent* traits rated by crowd workers from 15 s clips, not
  self-reports; its `neuroticism` label behaves like emotional stability (+0.88 with `interview`).
- Mean accuracy is compressed: the constant predictor already scores about 0.88 on First Impressions.
- The paper's 2/1/1 split puts the same person in train and test; `by_participant` does not.
- Faces only: no audio, no words. Lighting, camera and demographics shift the estimates; check the
  fairness figures before use.
"""


LABEL_CAVEATS = (
    "Labels are apparent traits: First Impressions' crowd raters judged 15 s clips, and collected data carry the "
    "participants' own IPIP-50 answers. First Impressions' neuroticism label behaves as emotional stability (+0.88 "
    "with its interview vote) and is turned into neuroticism. Faces only: no audio, no words; lighting, camera and "
    "demographics shift the estimates."
)


def card_summary(test: dict) -> str:
    """A few lines of the model card for a reader of a report or an audit: use, metrics with intervals, caveats."""
    lines = ["Intended use: decision support for a recruiter, never an automatic rejection; a person decides."]
    if "mean_accuracy" in test:
        lines.append(f"Test (Eq. 1) mean accuracy {test['mean_accuracy']:.4f} against {test['baseline_mean_accuracy']:.4f} "
                     f"for always predicting the training mean ({test.get('n', '?')} segments).")
    if test.get("people"):
        lines.append(_people_lines(test))
    if test.get("reliability"):
        lines.append(_reliability_lines(test))
    iv = test.get("intervals")
    if iv:
        app = iv["applicants"]["sales_score"]
        lines.append(f"Intervals: nominal {iv['nominal']:.0%}, calibrated on {iv.get('calibration_people', '?')} "
                     f"{iv.get('calibration_split', 'validation')} people ({iv['calibration_segments']} segments); the sales "
                     f"score's covered {iv['segments']['sales_score']['coverage']:.1%} of test segments and "
                     f"{app['coverage']:.1%}{coverage_ci(app)} of {iv['applicants']['n']} test applicants.")
    lines.append(LABEL_CAVEATS)
    return "\n".join(lines)


def coverage_ci(entry: dict) -> str:
    """`` [low, high]`` of a coverage's exact 95% interval (empty where there is none)."""
    ci = entry.get("coverage_ci95")
    return f" [{ci[0]:.0%}, {ci[1]:.0%}]" if ci and ci[0] == ci[0] else ""


def _interval_lines(test: dict) -> str:
    iv = test.get("intervals")
    if not iv:
        return "No calibration set: scores are shown without intervals."
    split = iv.get("calibration_split", "validation")
    apart = ("people nothing was trained or early-stopped on" if split == "calibration"
             else "the validation people, whom early stopping also chose the weights on (slightly optimistic)")
    widths = iv.get("applicant_half_widths", {}).get("sales_score")
    adapt = (f"; the applicants' sales-score half-widths ranged {widths['min']:.2f}-{widths['max']:.2f} (median "
             f"{widths['median']:.2f})" if isinstance(widths, dict) and widths.get("median") is not None else "")
    seg, app = iv["segments"], iv["applicants"]
    return (f"Split conformal (nominal {iv['nominal']:.0%}) on {iv.get('calibration_people', '?')} {split} people "
            f"({iv['calibration_segments']} segments): {apart}. An applicant's interval is calibrated on the people, "
            f"each the mean of their segments, scaled by what is known of the applicant (segments, their agreement, "
            f"face share), and spans the whole scale with fewer than {iv.get('people_needed', '?')} people{adapt}. "
            f"Measured on test: the sales score's interval covered {seg['sales_score']['coverage']:.1%}{coverage_ci(seg['sales_score'])} "
            f"of {seg['n']} segments and {app['sales_score']['coverage']:.1%}{coverage_ci(app['sales_score'])} of {app['n']} "
            f"applicants (exact 95% intervals); segment half-widths "
            f"{', '.join(f'{k} {v}' for k, v in iv['half_widths'].items())}. The trait intervals are per trait: all "
            f"five held at once for {seg.get('all_five_traits', {}).get('coverage', float('nan')):.1%} of test segments "
            f"and {app.get('all_five_traits', {}).get('coverage', float('nan')):.1%} of test applicants.")


def with_interval(entry: dict | None, digits: int = 3) -> str:
    """``value [low, high]`` of a figure with its bootstrap interval (``n/a`` where it could not be computed)."""
    if not entry or entry.get("value") is None:
        return "n/a"
    if entry.get("ci95_low") is None:
        return f"{entry['value']:.{digits}f} (too few people for an interval)"
    return f"{entry['value']:.{digits}f} [{entry['ci95_low']:.{digits}f}, {entry['ci95_high']:.{digits}f}]"


def _people_lines(test: dict) -> str:
    people = test.get("people")
    if not people:
        return "Not measured per person."
    traits = ", ".join(f"{t} {with_interval(people[t]['pearson'], 2)}"
                       for t in ("openness", "conscientiousness", "extraversion", "agreeableness", "neuroticism"))
    return (f"{people['people']} test people ({people['segments']} segments), each the mean of their segments; 95% "
            f"bootstrap intervals over people. Eq. 1 mean accuracy {with_interval(people['mean_accuracy'], 4)} against "
            f"{with_interval(people['baseline_mean_accuracy'], 4)} for the constant predictor; Pearson per trait: {traits}.")


def _reliability_lines(test: dict) -> str:
    rel = test.get("reliability")
    if not rel or not rel.get("people"):
        return "Not measured: no test person gave two answers or more."
    traits = ", ".join(f"{t} {with_interval(rel.get(t), 2)}"
                       for t in ("openness", "conscientiousness", "extraversion", "agreeableness", "neuroticism"))
    return (f"Split-half ({rel['method']}) on {rel['people']} test people, 95% bootstrap intervals over people: "
            f"sales score {with_interval(rel.get('sales_score'), 2)}; traits {traits}. Selection practice asks for "
            "0.7 or more before a score informs a decision about a person.")
