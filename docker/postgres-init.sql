-- Runs once, when the postgres volume is first initialised (files in
-- /docker-entrypoint-initdb.d are skipped if the data directory already exists).
-- The image creates the Airflow metadata DB from POSTGRES_DB=airflow; this adds
-- the warehouse DB next to it, owned by the same role (POSTGRES_USER=airflow).
CREATE DATABASE warehouse OWNER airflow;
