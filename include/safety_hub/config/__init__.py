"""Configuration: where things are and what the project is told.

``settings`` (paths and URLs from the environment; Beijing time, the one zone definition),
``registry`` (the feed YAMLs' strict schema), ``risk`` (``include/risk.yaml``'s strict schema),
``connections`` (Airflow connections, read without Airflow). Imports only ``domain``.
"""
