"""`make bench`: run every benchmark (or those named: python -m benchmarks featurize model)."""

from __future__ import annotations

import sys

from benchmarks import bench_featurize

BENCHES = {"featurize": bench_featurize.main}


def main(names: list[str]) -> None:
    for name in names or list(BENCHES):
        BENCHES[name]()


if __name__ == "__main__":
    main(sys.argv[1:])
