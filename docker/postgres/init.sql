-- One server, two databases: Airflow's metadata (POSTGRES_DB) and MLflow's backend store.
CREATE DATABASE mlflow;
