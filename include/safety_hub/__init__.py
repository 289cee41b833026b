"""safety_hub: cross-agency work-safety data platform.

The package runs without Airflow: DAG files under ``dags/`` only wire its
functions into tasks. The flow is extract -> land -> validate -> load ->
model -> report, one module (or sub-package) per stage.
"""

__version__ = "0.1.0"
