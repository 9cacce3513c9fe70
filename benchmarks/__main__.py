"""`make bench`: run every benchmark (or those named: python -m benchmarks featurize model)."""

from __future__ import annotations

import sys

from benchmarks import bench_collect, bench_featurize, bench_history, bench_model, bench_scoring

BENCHES = {"featurize": bench_featurize.main, "answer": bench_featurize.answer_main,
           "detectors": bench_featurize.detectors_main, "model": bench_model.main,
           "scoring": bench_scoring.main, "history": bench_history.main, "collect": bench_collect.main}


def main(names: list[str]) -> None:
    for name in names or list(BENCHES):
        BENCHES[name]()


if __name__ == "__main__":
    main(sys.argv[1:])
