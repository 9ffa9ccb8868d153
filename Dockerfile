# One image for every sigstack service: `docker run IMAGE serve rekor ...`, `IMAGE db upgrade ...`.
# Built from the source tree in the build context (there is no PyPI release).
FROM python:3.11-slim

# The image runs the services (the `server` extra); EXTRAS=pkcs11 adds python-pkcs11 for keys in an
# HSM (the PKCS#11 module itself is not included).
ARG EXTRAS=""

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY protocol ./protocol
COPY services ./services
COPY client ./client
COPY migrations ./migrations
COPY sigstack ./sigstack
RUN pip install "/src[server${EXTRAS:+,$EXTRAS}]" && rm -rf /src

# A fixed non-root user. The data directories exist in the image and belong to that user, so a
# named volume mounted on one of them starts out with the same owner and mode.
RUN useradd --system --uid 10001 --user-group --home-dir /data --shell /usr/sbin/nologin sigstack \
    && mkdir -p /data/oidc /data/fulcio/ca /data/ctlog /data/rekor /data/tuf /data/tuf-keys \
       /data/public \
    && chown -R sigstack:sigstack /data \
    && chmod 0700 /data/oidc /data/fulcio/ca /data/ctlog /data/rekor /data/tuf /data/tuf-keys

USER sigstack
WORKDIR /data
ENTRYPOINT ["sigstack"]
CMD ["--help"]
