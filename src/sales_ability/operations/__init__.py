"""What runs the system unattended or on a person's word: batch scoring (``batch``), the candidate's proposal and a
person's decision (``promotion``), nightly retraining (``retraining``), failure notices (``alerts``), and the
Celery workers' configuration (``celery_config``), which has each worker import the scoring stack once
(``worker_preload``) so that the shard tasks forked from it start warm."""
