-- One server, three databases: Airflow's metadata (POSTGRES_DB), MLflow's backend store, and sales-ability's results
-- database (SALES_ABILITY_DATABASE_URL: applicants, segments, rejects, the ledger, batch runs).
CREATE DATABASE mlflow;
CREATE DATABASE results;
