// Package imagetest tests, without a container engine, what Oneshot's container images
// (the Dockerfile at the repository root) rely on:
//
//   - the Dockerfile's policy: base images pinned by digest, numeric non-root users,
//     exec-form entrypoints, STOPSIGNAL SIGTERM, health checks through
//     `oneshot healthcheck`, no secrets in ENV or ARG, no remote ADD;
//   - the build context: what .dockerignore lets through still builds the binary;
//   - the binary built with the Dockerfile's flags: it starts with its configuration from
//     the environment alone, reports readiness the way the HEALTHCHECK reads it, exits 0
//     on SIGTERM when it runs as PID 1, and runs a task while writing nothing but its
//     data directory and TMPDIR (a read-only root filesystem, emulated with an
//     unprivileged user and read-only directories).
//
// The package has only tests; run them with
//
//	go test -race -count=1 ./internal/imagetest/
package imagetest
