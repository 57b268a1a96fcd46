# The Standby worker: every workflow and activity, talking to the Temporal server named by TEMPORAL_ADDRESS.
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends rsync && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY standby standby
COPY workflows workflows
COPY activities activities
COPY sampleapp sampleapp
COPY runbooks runbooks
COPY worker.py ./
RUN pip install --no-cache-dir .
ENV STANDBY_STATE=/var/lib/standby
CMD ["python", "worker.py"]
