# syntax=docker/dockerfile:1
# The Enforcement Command Center image: one image for the web nodes, the workers and the one-shot
# migration (docker-compose.yml picks the command). Dependencies are pinned by constraints.txt.

FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A compiler only in the build stage, for any dependency that has no wheel for this platform.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
# Dependencies first, so a source change does not reinstall them: with no package folders yet, this
# installs only what pyproject.toml depends on.
COPY constraints.txt pyproject.toml README.md ./
RUN pip install --constraint constraints.txt .
# The vendored browser libraries under frontend/static/vendor/ are committed: no Node.js in the image.
COPY command_center ./command_center
COPY assistance ./assistance
COPY realtime ./realtime
COPY scheduler ./scheduler
COPY frontend ./frontend
RUN pip install --constraint constraints.txt --no-deps --force-reinstall .


FROM python:3.11-slim

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CC_ENV=production \
    CC_HOST=0.0.0.0 \
    CC_PORT=8000 \
    CC_VAR_DIR=/var/lib/command-center

RUN groupadd --system --gid 10001 command-center \
    && useradd --system --uid 10001 --gid command-center --no-create-home \
        --home-dir /var/lib/command-center --shell /usr/sbin/nologin command-center \
    && install -d -o command-center -g command-center -m 0750 /var/lib/command-center

COPY --from=build /opt/venv /opt/venv

USER command-center:command-center
WORKDIR /var/lib/command-center
VOLUME ["/var/lib/command-center"]
EXPOSE 8000

CMD ["command-center", "serve", "--host", "0.0.0.0", "--port", "8000"]
