"""Stages 4-5, load and model: the warehouse (DuckDB by default, PostgreSQL in production)."""
