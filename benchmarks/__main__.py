"""`make bench`: run every benchmark (or those named: python -m benchmarks featurize model)."""

from __future__ import annotations

import sys

from benchmarks import bench_featurize, bench_model

BENCHES = {"featurize": bench_featurize.main, "model": bench_model.main}


def main(names: list[str]) -> None:
    for name in names or list(BENCHES):
        BENCHES[name]()


if __name__ == "__main__":
    main(sys.argv[1:])
