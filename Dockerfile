# Dockerfile: the conduitd image. Two stages:
#   build    Debian 12 with the toolchain: runs the Autotools build from the
#            source tree and the unit tests (the Check suites of `make check`),
#            then `make install` into a staging directory.
#   runtime  Debian 12 slim with only the shared libraries conduitd links, the
#            binary (/usr/sbin/conduitd), the SQL migrations
#            (/usr/share/conduitd/migrations, found by `conduitd migrate`) and a
#            non-root user (uid/gid 10001).
#
# Build:  docker build --build-arg CONDUIT_REVISION="$(git rev-parse --short=12 HEAD)" -t conduitd:dev .
# Run:    docker run --rm conduitd:dev --help      (the entrypoint is conduitd)
#         docker-compose up --build   (Debian 12, Compose v1; `docker compose up --build` with v2)
#
# There is no `# syntax=` line on purpose: it makes every BuildKit build pull
# an unpinned frontend image (docker/dockerfile) from Docker Hub. The
# engine's built-in Dockerfile frontend builds this file, with BuildKit
# (DOCKER_BUILDKIT=1) or with the classic builder; script/test's containers
# stage builds it both ways.
#
# The base images are pinned to the Debian release (bookworm = Debian 12, the
# same release the project builds and tests on). CI rebuilds the image for
# every commit, so security updates of the base arrive with the next build.
# To pin further, append the digest: debian:bookworm-slim@sha256:<digest>.

ARG DEBIAN_IMAGE=debian:bookworm-slim

# ---------------------------------------------------------------- build stage
FROM ${DEBIAN_IMAGE} AS build

RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        build-essential autoconf automake libtool pkg-config git ca-certificates \
        libevent-dev libpq-dev libhiredis-dev libcjson-dev libhttp-parser-dev \
        libargon2-dev libssl-dev check \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .

# .dockerignore keeps .git out of the build context, so configure cannot ask
# git for the revision: CI passes it in (the commit the image is tagged with).
ARG CONDUIT_REVISION=unknown

# Out-of-tree build with --prefix=/usr: the binary goes to /usr/sbin and the
# migrations to /usr/share/conduitd/migrations (compiled in as the default
# migrations directory). The unit tests are the Check programs that are also
# in TESTS; integration tests need PostgreSQL and Redis and run in CI instead.
# `make --eval` prints that list from the generated Makefile, so this file
# does not need to know the test names.
RUN autoreconf -fi \
    && mkdir -p /build && cd /build \
    && /src/configure --prefix=/usr --sysconfdir=/etc --localstatedir=/var \
        CONDUIT_REVISION="${CONDUIT_REVISION}" \
    && make -j"$(nproc)" \
    && unit_tests="$(make -s --no-print-directory \
        --eval 'print-unit-tests: ; @echo $(filter $(TESTS),$(check_PROGRAMS))' print-unit-tests)" \
    && echo "unit tests: ${unit_tests:-none}" \
    && make -j"$(nproc)" check TESTS="${unit_tests}" \
    && make install-strip DESTDIR=/staging \
    && mkdir -p /staging/usr/share/conduitd/migrations

# -------------------------------------------------------------- runtime stage
FROM ${DEBIAN_IMAGE} AS runtime

ARG CONDUIT_REVISION=unknown
LABEL org.opencontainers.image.title="conduitd" \
      org.opencontainers.image.description="RealWorld Conduit API server (prefork, libevent, PostgreSQL, Redis)" \
      org.opencontainers.image.source="https://github.com/conduitd/conduitd" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.revision="${CONDUIT_REVISION}"

# Only the shared libraries conduitd links (Debian 12 package names), and CA
# certificates for TLS connections to a managed PostgreSQL or Redis.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libevent-2.1-7 libevent-pthreads-2.1-7 libpq5 libhiredis0.14 libcjson1 \
        libargon2-1 libssl3 libhttp-parser2.9 ca-certificates \
    && rm -rf /var/lib/apt/lists/*

# A non-root user with a fixed uid >= 10000 (the Kubernetes manifests run as
# runAsUser 10001 with runAsNonRoot), no home directory and no login shell.
RUN groupadd --system --gid 10001 conduit \
    && useradd --system --uid 10001 --gid conduit --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin conduit

COPY --from=build /staging/usr/sbin/conduitd /usr/sbin/conduitd
COPY --from=build /staging/usr/share/conduitd/migrations /usr/share/conduitd/migrations

# In a container both ports listen on all interfaces (conduitd's default for
# the admin port is 127.0.0.1:9090). The admin port (health, readiness,
# metrics) is for the kubelet and Prometheus only: compose publishes it on the
# host's loopback, and no Kubernetes Service or Ingress exposes it.
ENV CONDUIT_LISTEN=0.0.0.0:8080 \
    CONDUIT_ADMIN_LISTEN=0.0.0.0:9090 \
    CONDUIT_RELEASE=${CONDUIT_REVISION}

# 8080: the Conduit API.  9090: admin (/healthz /readyz /metrics /status).
EXPOSE 8080 9090

USER 10001:10001

# STOPSIGNAL SIGTERM, stated rather than left to the default: Docker and
# Kubernetes send TERM, and TERM is conduitd's graceful stop (readiness false
# at once, stop accepting, finish in-flight requests within
# CONDUIT_SHUTDOWN_TIMEOUT, default 25 s, then exit 0). nginx and PHP-FPM
# images set STOPSIGNAL SIGQUIT because their TERM is fast; conduitd's is not.
# conduitd runs as PID 1: it handles TERM itself and reaps its own workers.
STOPSIGNAL SIGTERM

# The entrypoint is the binary, so arguments go to conduitd:
#   docker run IMAGE              serve (the default)
#   docker run IMAGE migrate      apply the migrations
#   docker run IMAGE --help       usage (also --version, --check-config)
# Kubernetes' `command:` replaces the entrypoint (k8s/base runs
# ["conduitd"] and ["conduitd", "migrate"]).
ENTRYPOINT ["conduitd"]
CMD []
