"""`make bench`: run every benchmark (or those named: python -m benchmarks featurize model)."""

from __future__ import annotations

from typing import Annotated

import typer

from benchmarks import bench_collect, bench_featurize, bench_history, bench_model, bench_scoring

BENCHES = {"featurize": bench_featurize.main, "answer": bench_featurize.answer_main,
           "detectors": bench_featurize.detectors_main, "model": bench_model.main,
           "scoring": bench_scoring.main, "history": bench_history.main, "collect": bench_collect.main}


def main(names: Annotated[list[str] | None, typer.Argument(
        help=f"benchmarks to run, in this order (all when none): {', '.join(BENCHES)}", show_default=False)] = None,
         ) -> None:
    """Run the benchmarks; each prints figures and the ratios measured within its own run."""
    unknown = [name for name in names or [] if name not in BENCHES]
    if unknown:
        raise typer.BadParameter(f"no benchmark named {', '.join(unknown)} (known: {', '.join(BENCHES)})")
    for name in names or list(BENCHES):
        BENCHES[name]()


if __name__ == "__main__":
    typer.run(main)
