"""Outcome validation (issue #36): hires' sales outcomes joined to the scores they had, the studies that test
whether the score predicts sales, and role profiles fitted only where held-out people show they work."""
