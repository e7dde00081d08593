# syntax=docker/dockerfile:1
# check=error=true
#
# Oneshot container images. Two targets:
#
#   oneshot (default, the last stage)  distroless, the binary alone: `serve` (API),
#                                      `migrate`, and workers that only use the direct
#                                      executor without repositories
#   agents                             Debian + Node.js + git + the claude, codex and gemini
#                                      CLIs at pinned versions: `worker` for CLI agents
#
#   docker buildx build --platform linux/amd64,linux/arm64 --build-arg VERSION=v1.2.3 -t oneshot:v1.2.3 .
#   docker buildx build --platform linux/amd64,linux/arm64 --target agents -t oneshot-agents:v1.2.3 .
#
# Base images are pinned by digest (the multi-platform index digest, so every platform
# resolves): the tag says what it is, the digest says exactly which build. To move one,
# `docker buildx imagetools inspect IMAGE:TAG` prints the new index digest; Renovate or
# Dependabot (docker ecosystem) propose the same change as a pull request. See
# docs/container.md, "Updating the pinned base images".
#
# Both images run as a fixed numeric non-root user and work with a read-only root
# filesystem: only /tmp (scratch space and per-task workspaces) and /data (SQLite, when no
# PostgreSQL URL is set) are written, plus /home/oneshot in the agents image.

ARG VERSION=dev
ARG REVISION=unknown

# ---------------------------------------------------------------------------------------
# build: the static binary, cross-compiled on the builder's own platform.
# golang:1.26-bookworm (Go 1.26.8), multi-platform index digest.
FROM --platform=$BUILDPLATFORM golang:1.26-bookworm@sha256:dc9ad6c05acc7a88e5b71bde60a5fe3bd4b9f0db209011711b464107438a8107 AS build
WORKDIR /src
# Never download another toolchain: the image's Go is the one go.mod asks for.
ENV CGO_ENABLED=0 GOTOOLCHAIN=local

# Modules first, in their own layer: source edits do not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download

# Only what `go build` needs (.dockerignore also keeps *_test.go and testdata out).
COPY cmd/ ./cmd/
COPY internal/ ./internal/

ARG TARGETOS
ARG TARGETARCH
ARG VERSION
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/oneshot ./cmd/oneshot
# An empty /data for the final image, so a volume mounted there starts out owned by the
# image's user.
RUN install -d -m 0700 /out/data

# ---------------------------------------------------------------------------------------
# agents: `oneshot worker` with the agent CLIs. Debian (glibc) because the CLIs ship
# glibc builds; tini forwards SIGTERM to oneshot and reaps the zombies that killed agent
# process groups leave behind: as PID 1, or, under another init (ECS
# initProcessEnabled), as a child subreaper (-s).
# node:22-bookworm-slim, multi-platform index digest.
FROM node:22-bookworm-slim@sha256:6c74791e557ce11fc957704f6d4fe134a7bc8d6f5ca4403205b2966bd488f6b3 AS agents
ARG VERSION
ARG REVISION

RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates git tini \
 && rm -rf /var/lib/apt/lists/*

# Exact versions; none of the three has a regular dependency, and their platform
# binaries are optional dependencies pinned to the same exact versions, so these three
# names fix the whole tree. Install scripts stay on: claude-code's postinstall links
# its native binary from @anthropic-ai/claude-code-linux-<arch> over the bin stub.
# node-pty and keytar (optional dependencies of gemini) fail to build without a
# toolchain and are skipped; gemini falls back to plain child processes.
# Each CLI must start (`--version`) on a native build; under emulation (the other
# platform of a multi-platform build) only their presence is checked, since native
# binaries may not run under QEMU.
ARG BUILDPLATFORM
ARG TARGETPLATFORM
RUN --mount=type=cache,target=/root/.npm,sharing=locked \
    npm install --global --omit=dev --no-audit --no-fund --loglevel=error \
      @anthropic-ai/claude-code@2.1.197 \
      @openai/codex@0.171.0 \
      @google/gemini-cli@0.61.0 \
 && for cli in claude codex gemini; do \
      command -v "$cli" || exit 1; \
      if [ "$BUILDPLATFORM" = "$TARGETPLATFORM" ]; then HOME=/tmp/smoke "$cli" --version || exit 1; fi; \
    done \
 && rm -rf /tmp/smoke

# A fixed numeric user, the same UID and GID as distroless's nonroot in the oneshot image,
# so one `user` setting (ECS task definitions, Kubernetes runAsUser) fits both images. It
# has a passwd entry: git refuses to commit as a user it cannot look up. The directories
# it writes are owned by it (see VOLUME below).
# --no-log-init: no sparse lastlog/faillog entries for the high UID.
RUN groupadd --gid 65532 oneshot \
 && useradd --uid 65532 --gid 65532 --no-log-init --home-dir /home/oneshot --create-home --shell /bin/bash oneshot \
 && install -d -o 65532 -g 65532 -m 0700 /data

COPY --from=build --chmod=0555 /out/oneshot /oneshot

# The writable paths. Declared as volumes so that ECS copies them, with their ownership
# and modes, into the task's bind mounts of the same paths (otherwise those start out
# root-owned 0755 and the user cannot write them); Docker does the same for named
# volumes and makes anonymous ones when nothing is mounted.
VOLUME ["/tmp", "/data", "/home/oneshot"]

LABEL org.opencontainers.image.title="oneshot-agents" \
      org.opencontainers.image.description="Oneshot worker with the claude, codex and gemini agent CLIs" \
      org.opencontainers.image.source="https://github.com/oneshot-run/oneshot" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="docker.io/library/node:22-bookworm-slim"

# HOME holds the CLIs' own state (~/.claude, ~/.codex, ~/.gemini, npm's cache) and must
# be writable; it is deliberately not under /tmp (codex refuses to set up its helper
# binaries under a temporary directory). TMPDIR holds the task workspaces.
# GEMINI_CLI_NO_RELAUNCH is deliberately not set: oneshot stops an agent by signalling
# its whole process group, which also ends gemini's relaunched child.
ENV HOME=/home/oneshot \
    TMPDIR=/tmp \
    ONESHOT_DATA_DIR=/data \
    SHELL=/bin/bash \
    DISABLE_AUTOUPDATER=1 \
    NPM_CONFIG_UPDATE_NOTIFIER=false
WORKDIR /
USER 65532:65532
STOPSIGNAL SIGTERM
# The worker serves /healthz, /readyz and /metrics on 127.0.0.1:8081 by default (pass
# --addr :8081 to reach them from outside the container).
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["/oneshot", "healthcheck", "--url", "http://127.0.0.1:8081/readyz"]
ENTRYPOINT ["/usr/bin/tini", "-s", "--", "/oneshot"]
CMD ["worker"]

# ---------------------------------------------------------------------------------------
# oneshot (default target): distroless static, nonroot. It has CA certificates, tzdata
# and /etc/passwd with nonroot (65532), and no shell: the health check is the binary's
# own `healthcheck` command.
# gcr.io/distroless/static-debian12:nonroot, multi-platform index digest.
FROM gcr.io/distroless/static-debian12:nonroot@sha256:afa5c872c891853ca7fcf1f12c3edb23f7eeef36189728842dd51042ff57f7ab AS oneshot
ARG VERSION
ARG REVISION

COPY --from=build --chmod=0555 /out/oneshot /oneshot
COPY --from=build --chown=65532:65532 /out/data /data
# The writable paths (/tmp is distroless's own, mode 1777); see the agents stage.
VOLUME ["/tmp", "/data"]

LABEL org.opencontainers.image.title="oneshot" \
      org.opencontainers.image.description="Oneshot: a worker agent, an auditor agent and a loop until the task is done" \
      org.opencontainers.image.source="https://github.com/oneshot-run/oneshot" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="gcr.io/distroless/static-debian12:nonroot"

# Everything the process writes goes to /tmp (workspaces, HOME, XDG state) or /data
# (SQLite): mount those two and run the root filesystem read-only.
ENV TMPDIR=/tmp \
    ONESHOT_DATA_DIR=/data \
    XDG_STATE_HOME=/tmp/state \
    HOME=/tmp/home
WORKDIR /
USER 65532:65532
EXPOSE 8080
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["/oneshot", "healthcheck"]
# Exec form: oneshot is PID 1 and receives SIGTERM itself. On ECS, set
# initProcessEnabled so an init reaps orphaned agent processes.
ENTRYPOINT ["/oneshot"]
CMD ["serve", "--addr", ":8080"]
