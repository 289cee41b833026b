# Production image for every Airflow service and the agency simulator.
# Build: docker compose build   (see docs/production.md)
FROM apache/airflow:3.3.2-python3.11

# Pinned dependency lock (includes apache-airflow==3.3.2 itself, so pip keeps
# the image's Airflow instead of up- or downgrading it).
COPY requirements.txt /requirements.txt
RUN pip install --no-cache-dir -r /requirements.txt

# The safety_hub package is imported from /opt/airflow/include via PYTHONPATH
# (not pip-installed) so that settings.PROJECT_DIR resolves to /opt/airflow and
# the feed YAMLs are found in /opt/airflow/include/feeds. docker-compose.yml
# bind-mounts ./include (plus ./dags and ./plugins) over this copy.
COPY --chown=airflow:0 pyproject.toml /opt/airflow/pyproject.toml
COPY --chown=airflow:0 include/ /opt/airflow/include/
ENV PYTHONPATH=/opt/airflow/include \
    SAFETY_HUB_HOME=/opt/airflow/safety_hub_home

# Mount points of the named volumes. A fresh named volume copies this
# directory's ownership, so containers running as ${AIRFLOW_UID}:0 can write
# to it through group 0 (the official image's convention).
USER root
RUN mkdir -p /opt/airflow/safety_hub_home/dropzone /opt/airflow/auth \
 && chown -R airflow:0 /opt/airflow/safety_hub_home /opt/airflow/auth \
 && chmod -R g+rwX /opt/airflow/safety_hub_home /opt/airflow/auth
USER airflow
