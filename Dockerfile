# casehub: one image for every process of the hub — the Airflow components (api-server with the
# gateway plugin, scheduler, dag-processor, triggerer, Celery worker), the standalone gateway and
# the partner simulators. docker-compose.yml picks the process by its command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# curl is for the compose health checks; Pango and a CJK font for WeasyPrint, which prints the
# efficiency reports to PDF; every Python dependency installs from a wheel.
RUN apt-get update \
    && apt-get install --yes --no-install-recommends curl libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-wqy-microhei \
    && rm -rf /var/lib/apt/lists/*

# One unprivileged user for every process, by number so that orchestrators can verify it is not
# root; uid 50000 is what Airflow deployments expect.
RUN groupadd --gid 50000 casehub \
    && useradd --uid 50000 --gid casehub --create-home --home-dir /home/casehub --shell /usr/sbin/nologin casehub

WORKDIR /opt/casehub

# Dependencies before the code, so that editing the code does not reinstall them.
COPY requirements.txt constraints.txt ./
RUN pip install --requirement requirements.txt --constraint constraints.txt

COPY . .
RUN pip install --no-deps --editable . \
    && mkdir -p /opt/airflow/logs /opt/airflow/auth /opt/casehub/var/quality \
    && chown -R casehub:casehub /opt/airflow /opt/casehub/var

ENV AIRFLOW_HOME=/opt/airflow \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/casehub/dags \
    AIRFLOW__CORE__PLUGINS_FOLDER=/opt/casehub/plugins \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    CASEHUB_HOME=/opt/casehub/var \
    GX_ANALYTICS_ENABLED=false

USER 50000:50000

# What compose publishes: the gateway and the Airflow API server (UI, API, the mounted gateway).
EXPOSE 8000 8080

CMD ["casehub", "--help"]
