# The dask-plugin-operator image: the operator and its dependencies in a virtualenv on a
# slim Python base, running as an unprivileged numeric user so that Kubernetes can check
# runAsNonRoot. Build from the repository root:
#
#   docker build -t dask-plugin-operator:0.1.0 .
#
# The Python here need not match the Dask clusters' Python: the operator ships plugins as
# portable payloads, never as pickled code.

ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/operator
WORKDIR /src
# Only what the package build reads; tests, charts and docs stay out of the image. The
# package's crds/ is a link to the top-level crds/, so that comes too.
COPY pyproject.toml README.md LICENSE ./
COPY crds/ crds/
COPY operator/ operator/
RUN /opt/operator/bin/pip install . \
 && /opt/operator/bin/dask-plugin-operator --help > /dev/null

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="dask-plugin-operator" \
      org.opencontainers.image.description="Keeps Dask plugins registered on DaskCluster schedulers." \
      org.opencontainers.image.licenses="BSD-3-Clause"
# Same base image as the build stage, so the virtualenv's interpreter links stay valid.
COPY --from=build /opt/operator /opt/operator
ENV PATH=/opt/operator/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
# 10001 matches the chart's runAsUser; no passwd entry is needed to run as it.
USER 10001:10001
ENTRYPOINT ["dask-plugin-operator", "run"]
