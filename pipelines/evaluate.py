"""DVC stage evaluate: Eq. 1 and friends on the test split, predictions, figures, the candidate (no registry)."""

from __future__ import annotations

from pathlib import Path

from sales_ability.config import load_params
from sales_ability.stage_runner import run_stage
from sales_ability.stages.evaluate import run_evaluate

STAGE = "evaluate"


def main(model_dir: str, pretrain_dir: str, faces: str, pretrain_faces: str, kb_file: str, metrics_file: str,
         predictions_file: str, applicants_file: str, plots_dir: str, candidate_file: str, labelled_file: str) -> None:
    report = run_evaluate(Path(model_dir), Path(pretrain_dir), Path(faces), Path(pretrain_faces), Path(kb_file),
                          Path(metrics_file), Path(predictions_file), Path(applicants_file), Path(plots_dir), load_params(),
                          Path(candidate_file), Path(labelled_file))
    test = report["test"]
    print(f"evaluate: test mean accuracy {test['mean_accuracy']:.4f} vs baseline {test['baseline_mean_accuracy']:.4f}")
    iv = test["intervals"]
    print(f"intervals: nominal {iv['nominal']:.0%}, sales score coverage {iv['segments']['sales_score']['coverage']:.1%} "
          f"of {iv['segments']['n']} segments, {iv['applicants']['sales_score']['coverage']:.1%} of "
          f"{iv['applicants']['n']} applicants")
    print(f"candidate: run {report['candidate_run_id']} ({candidate_file}); no registry touched. Next: "
          "`sales-ability promote propose`, then a person decides (`sales-ability promote decide`)")


if __name__ == "__main__":
    run_stage(STAGE, main)
