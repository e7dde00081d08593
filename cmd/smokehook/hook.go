package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"
)

// Hook statuses ECS understands. FAILED rolls the deployment back.
const (
	hookSucceeded = "SUCCEEDED"
	hookFailed    = "FAILED"
)

// event is the payload ECS sends a lifecycle hook.
type event struct {
	ExecutionID      string          `json:"executionId"`
	LifecycleStage   string          `json:"lifecycleStage"`
	ResourceArn      string          `json:"resourceArn"`
	ExecutionDetails revisionDetails `json:"executionDetails"`
	// The same details at the top level, as some stages document them.
	revisionDetails
	// HookDetails is whatever the service's hook configuration passes along. The hook
	// reads one key from it, expectedVersion, which overrides the version read from the
	// task definition (manual runs, or images without the label); anything else is
	// ignored.
	HookDetails json.RawMessage `json:"hookDetails"`
}

func (e event) expectedVersionOverride() string {
	var d struct {
		ExpectedVersion string `json:"expectedVersion"`
	}
	if len(e.HookDetails) == 0 || json.Unmarshal(e.HookDetails, &d) != nil {
		return ""
	}
	return d.ExpectedVersion
}

type revisionDetails struct {
	ServiceArn               string `json:"serviceArn"`
	TargetServiceRevisionArn string `json:"targetServiceRevisionArn"`
}

func (e event) targetRevision() string {
	if e.ExecutionDetails.TargetServiceRevisionArn != "" {
		return e.ExecutionDetails.TargetServiceRevisionArn
	}
	return e.TargetServiceRevisionArn
}

// result is the hook's answer to ECS.
type result struct {
	HookStatus string `json:"hookStatus"`
}

// awsAPI is what the hook needs from AWS.
type awsAPI interface {
	secretString(ctx context.Context, secretID string) (string, error)
	containerLabels(ctx context.Context, serviceRevisionARN, container string) (taskDefinition string, labels map[string]string, err error)
}

// config is the hook's settings, from the Lambda function's environment.
type config struct {
	// BaseURL reaches the new tasks through the load balancer's test listener, e.g.
	// https://api.example.com:8443.
	BaseURL string
	// TokenSecretID names the Secrets Manager secret holding an API token for
	// /api/v1/status.
	TokenSecretID string
	// ContainerName is the task definition's application container.
	ContainerName string
	// ExpectedVersion, when set, is the version every deployment must report.
	ExpectedVersion string
	// ReadyTimeout bounds how long /readyz may keep failing before the hook gives up.
	ReadyTimeout time.Duration
	// RequestTimeout bounds one HTTP request.
	RequestTimeout time.Duration
	// RetryInterval is the pause between two /readyz attempts.
	RetryInterval time.Duration
}

func configFromEnv(getenv func(string) string) (config, error) {
	c := config{
		BaseURL:         strings.TrimRight(getenv("SMOKE_BASE_URL"), "/"),
		TokenSecretID:   getenv("SMOKE_TOKEN_SECRET_ID"),
		ContainerName:   getenv("SMOKE_CONTAINER_NAME"),
		ExpectedVersion: getenv("SMOKE_EXPECTED_VERSION"),
		ReadyTimeout:    60 * time.Second,
		RequestTimeout:  5 * time.Second,
		RetryInterval:   3 * time.Second,
	}
	var errs []error
	if !strings.HasPrefix(c.BaseURL, "https://") && !strings.HasPrefix(c.BaseURL, "http://") {
		errs = append(errs, fmt.Errorf("SMOKE_BASE_URL %q must be the test listener's URL, e.g. https://api.example.com:8443", c.BaseURL))
	}
	if c.TokenSecretID == "" {
		errs = append(errs, errors.New("SMOKE_TOKEN_SECRET_ID is empty: name the Secrets Manager secret that holds the smoke test's API token"))
	}
	if c.ContainerName == "" {
		c.ContainerName = "oneshot"
	}
	for name, d := range map[string]*time.Duration{"SMOKE_READY_TIMEOUT": &c.ReadyTimeout, "SMOKE_REQUEST_TIMEOUT": &c.RequestTimeout} {
		if v := getenv(name); v != "" {
			parsed, err := time.ParseDuration(v)
			if err != nil || parsed <= 0 {
				errs = append(errs, fmt.Errorf("%s %q is not a positive duration such as 30s", name, v))
				continue
			}
			*d = parsed
		}
	}
	return c, errors.Join(errs...)
}

// hook runs the smoke test of one deployment.
type hook struct {
	cfg  config
	aws  awsAPI
	http *http.Client
	log  *slog.Logger
}

// checkError is a failed check: which one and why.
type checkError struct {
	Check string
	Err   error
}

func (e *checkError) Error() string { return e.Check + ": " + e.Err.Error() }
func (e *checkError) Unwrap() error { return e.Err }

// handle runs every check against the new tasks and says whether ECS may move
// production traffic to them.
func (h *hook) handle(ctx context.Context, ev event) result {
	start := time.Now()
	log := h.log.With("execution_id", ev.ExecutionID, "stage", ev.LifecycleStage, "service", firstNonEmpty(ev.ExecutionDetails.ServiceArn, ev.ServiceArn))
	err := h.run(ctx, ev, log)
	if err != nil {
		log.Error("smoke test failed: the deployment rolls back", "err", err.Error(), "duration", time.Since(start).String())
		return result{HookStatus: hookFailed}
	}
	log.Info("smoke test passed", "duration", time.Since(start).String())
	return result{HookStatus: hookSucceeded}
}

func (h *hook) run(ctx context.Context, ev event, log *slog.Logger) error {
	expected, err := h.expectedVersion(ctx, ev, log)
	if err != nil {
		return &checkError{"expected version", err}
	}
	token, err := h.aws.secretString(ctx, h.cfg.TokenSecretID)
	if err != nil {
		return &checkError{"api token", fmt.Errorf("read secret %s: %w", h.cfg.TokenSecretID, err)}
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return &checkError{"api token", fmt.Errorf("secret %s is empty: create a token with `oneshot token create --name smoke-test` and store it there", h.cfg.TokenSecretID)}
	}

	if err := h.waitReady(ctx, log); err != nil {
		return &checkError{"readyz", err}
	}
	log.Info("check passed", "check", "readyz")

	var health struct {
		Status  string `json:"status"`
		Version string `json:"version"`
	}
	if err := h.getJSON(ctx, "/healthz", "", &health); err != nil {
		return &checkError{"version", err}
	}
	if health.Version != expected {
		return &checkError{"version", fmt.Errorf("the test listener answered version %q, want %q: the new tasks are not the ones being deployed, or the image was built with another version", health.Version, expected)}
	}
	log.Info("check passed", "check", "version", "version", health.Version)

	var status struct {
		Counts map[string]int `json:"counts"`
	}
	if err := h.getJSON(ctx, "/api/v1/status", token, &status); err != nil {
		return &checkError{"status", err}
	}
	if status.Counts == nil {
		return &checkError{"status", errors.New("/api/v1/status answered without task counts")}
	}
	log.Info("check passed", "check", "status")
	return nil
}

// expectedVersion is the version the new tasks must report: from the hook details, the
// function's configuration, or the release label of the task definition being deployed.
func (h *hook) expectedVersion(ctx context.Context, ev event, log *slog.Logger) (string, error) {
	if v := ev.expectedVersionOverride(); v != "" {
		return v, nil
	}
	if h.cfg.ExpectedVersion != "" {
		return h.cfg.ExpectedVersion, nil
	}
	rev := ev.targetRevision()
	if rev == "" {
		return "", errors.New("the event names no targetServiceRevisionArn and no hookDetails.expectedVersion, so there is nothing to compare the answer with")
	}
	td, labels, err := h.aws.containerLabels(ctx, rev, h.cfg.ContainerName)
	if err != nil {
		return "", err
	}
	v := labels[versionLabel]
	if v == "" {
		return "", fmt.Errorf("container %s of %s has no %s label: render task definitions with `oneshot deploy render`", h.cfg.ContainerName, td, versionLabel)
	}
	log.Info("deploying", "task_definition", td, "version", v)
	return v, nil
}

// versionLabel is the label `oneshot deploy render` puts on every container.
const versionLabel = "org.opencontainers.image.version"

// waitReady polls /readyz until it answers 200, the ready timeout passes or ctx ends.
func (h *hook) waitReady(ctx context.Context, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.ReadyTimeout)
	defer cancel()
	var last error
	for attempt := 1; ; attempt++ {
		last = h.getJSON(ctx, "/readyz", "", &struct{}{})
		if last == nil {
			return nil
		}
		log.Warn("not ready yet", "attempt", attempt, "err", last.Error())
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready after %s and %d attempts: %w", h.cfg.ReadyTimeout, attempt, last)
		case <-time.After(h.cfg.RetryInterval):
		}
	}
}

// getJSON GETs path from the test listener and decodes a 200 answer into out.
func (h *hook) getJSON(ctx context.Context, path, token string, out any) error {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.cfg.BaseURL+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "oneshot-smokehook")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := h.http.Do(req)
	if err != nil {
		return describeTransportError(h.cfg.BaseURL, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("GET %s: read the answer: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s answered %s: %s", path, resp.Status, strings.TrimSpace(string(body)))
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("GET %s answered something that is not JSON: %w", path, err)
	}
	return nil
}

// describeTransportError says in operator terms why a request got no answer.
func describeTransportError(base string, err error) error {
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &netErr) && netErr.Timeout():
		return fmt.Errorf("timed out waiting for %s: %w", base, err)
	case isConnRefused(err):
		return fmt.Errorf("%s is unreachable (connection refused): is the test listener open to this function's network?: %w", base, err)
	default:
		return fmt.Errorf("%s is unreachable: %w", base, err)
	}
}

func isConnRefused(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}
