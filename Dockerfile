# syntax=docker/dockerfile:1
# The launcher as a container image: `docker build -t launcher .`
#
#   docker run --rm -v "$PWD/manifests:/manifests:ro" launcher validate .
#   docker run --rm -v "$PWD/manifests:/manifests:ro" -v launcher-state:/var/lib/launcher \
#     -e DEVIN_API_KEY launcher run . --ledger /var/lib/launcher/ledger.jsonl
#
# Nothing secret is baked in: the API key comes from the environment at run time.

ARG PYTHON_VERSION=3.12
# The base image pinned by digest (python:3.12-slim's index): a tag can be moved under us.
# Bump both together: `docker buildx imagetools inspect python:3.12-slim`.
ARG PYTHON_DIGEST=sha256:78387bc3881b8273120a12ebe6c1ab22b018ccc2c9adf565ae1ac9b536e184ea

# Build stage: wheels for the launcher and every dependency, so that the final stage
# installs offline and carries no build tools, sources or pip cache.
FROM python:${PYTHON_VERSION}-slim@${PYTHON_DIGEST} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY schemas/ schemas/
COPY launcher/ launcher/
RUN python -m pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:${PYTHON_VERSION}-slim@${PYTHON_DIGEST}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# The wheels are bind-mounted for this one step, so they never become a layer.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python -m pip install --no-cache-dir --no-index --find-links /wheels devin-launcher \
 && python -m pip uninstall --yes pip
# A numeric non-root user: Kubernetes' runAsNonRoot can only verify a numeric USER.
RUN groupadd --system --gid 10001 launcher \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin launcher \
 && mkdir -p /var/lib/launcher /manifests \
 && chown 10001:10001 /var/lib/launcher
# The ledger is the memory that prevents duplicate sessions: keep it on a volume.
VOLUME ["/var/lib/launcher"]
WORKDIR /manifests
USER 10001:10001
ENTRYPOINT ["launcher"]
CMD ["--help"]
