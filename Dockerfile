# Two images from one file (docker compose builds both; see docs/production.md):
#   production  every Airflow service: the production lock, the safety_hub package, the feed
#               registry and risk.yaml; no simulator, demo, test or dev dependency
#   simulator   the agency simulator service: production plus the dev lock and the dev package
#               (devtools/, which adds `python -m safety_hub simulator` through an entry point)
# Build one alone: docker build --target production .   (tests/unit/test_dockerfile.py holds the split)
FROM apache/airflow:3.3.2-python3.11 AS production

# Pinned dependency lock (includes apache-airflow==3.3.2 itself, so pip keeps
# the image's Airflow instead of up- or downgrading it).
COPY requirements.txt /requirements.txt
RUN pip install --no-cache-dir -r /requirements.txt

# The safety_hub package is imported from /opt/airflow/include via PYTHONPATH
# (not pip-installed) so that settings.PROJECT_DIR resolves to /opt/airflow and
# the feed YAMLs are found in /opt/airflow/include/feeds. docker-compose.yml
# bind-mounts ./include (plus ./dags and ./plugins) over this copy.
COPY --chown=airflow:0 pyproject.toml /opt/airflow/pyproject.toml
COPY --chown=airflow:0 include/safety_hub/ /opt/airflow/include/safety_hub/
COPY --chown=airflow:0 include/feeds/ /opt/airflow/include/feeds/
COPY --chown=airflow:0 include/risk.yaml /opt/airflow/include/risk.yaml
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


FROM production AS simulator

# The dev lock (constrained by the production lock) and the dev package, installed (not
# editable) so its entry points add the simulator commands to `python -m safety_hub`.
COPY requirements.txt requirements-dev.txt /
RUN pip install --no-cache-dir -r /requirements.txt -r /requirements-dev.txt
COPY --chown=airflow:0 devtools/ /opt/airflow/devtools/
RUN pip install --no-cache-dir --no-deps /opt/airflow/devtools
