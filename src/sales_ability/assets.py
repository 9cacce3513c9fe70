"""Airflow Assets shared by the DAGs (kept light: DAG files import this at parse time)."""

from __future__ import annotations

from airflow.sdk import Asset

# Updated by the retraining DAG whenever the registry's champion changes; batch scoring runs on it.
CHAMPION_MODEL = Asset(name="sales_ability_champion", uri="sales-ability://models/champion")
