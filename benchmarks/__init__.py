"""Benchmarks run by `make bench`: each prints figures and ratios measured in one run."""
