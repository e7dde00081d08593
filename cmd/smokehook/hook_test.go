package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	testToken    = "os_smoke_0123456789abcdef"
	testRevision = "arn:aws:ecs:eu-west-1:123456789012:service-revision/oneshot-dev/oneshot-dev-api/4820417234509874"
	testTaskDef  = "arn:aws:ecs:eu-west-1:123456789012:task-definition/oneshot-dev-api:42"
	testSecret   = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:/oneshot/dev/smoke-token-AbCdEf"
)

// fakeService is the api behind the test listener.
type fakeService struct {
	version     string
	notReadyFor int32 // answer /readyz 503 this many times first
	delay       time.Duration
	statusCode  int
	statusBody  string

	readyCalls atomic.Int32
	mu         sync.Mutex
	authSeen   []string
}

func (f *fakeService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/readyz":
		if f.readyCalls.Add(1) <= f.notReadyFor {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `{"status":"not_ready","reason":"store unreachable"}`)
			return
		}
		_, _ = io.WriteString(w, `{"status":"ready"}`)
	case "/healthz":
		_ = json.NewEncoder(w).Encode(map[string]string{"status": "ok", "version": f.version})
	case "/api/v1/status":
		f.mu.Lock()
		f.authSeen = append(f.authSeen, r.Header.Get("Authorization"))
		f.mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer "+testToken {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":{"code":"unauthorized","message":"invalid token"}}`)
			return
		}
		if f.statusCode != 0 {
			w.WriteHeader(f.statusCode)
			_, _ = io.WriteString(w, f.statusBody)
			return
		}
		_, _ = io.WriteString(w, `{"counts":{"queued":0,"completed":3},"queue_depth":0,"workers_alive":2}`)
	default:
		http.NotFound(w, r)
	}
}

// fakeAWS answers the ECS and Secrets Manager calls the hook makes, and checks that they
// are signed.
type fakeAWS struct {
	t       *testing.T
	secret  string
	labels  map[string]string
	failOn  string // an X-Amz-Target to answer with an error
	targets []string
	mu      sync.Mutex
}

func (f *fakeAWS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	f.mu.Lock()
	f.targets = append(f.targets, target)
	f.mu.Unlock()
	auth := r.Header.Get("Authorization")
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKIDTEST/") || r.Header.Get("X-Amz-Security-Token") != "session-token" {
		w.WriteHeader(http.StatusForbidden)
		_, _ = io.WriteString(w, `{"__type":"MissingAuthenticationTokenException","message":"not signed"}`)
		return
	}
	var in map[string]any
	_ = json.NewDecoder(r.Body).Decode(&in)
	if target == f.failOn {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"__type":"com.amazonaws#AccessDeniedException","message":"not authorized to perform `+target+`"}`)
		return
	}
	switch target {
	case "secretsmanager.GetSecretValue":
		if in["SecretId"] != testSecret {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"__type":"ResourceNotFoundException","Message":"Secrets Manager can't find the specified secret."}`)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"SecretString": f.secret})
	case ecsTarget + "DescribeServiceRevisions":
		arns, _ := in["serviceRevisionArns"].([]any)
		if len(arns) != 1 || arns[0] != testRevision {
			_, _ = io.WriteString(w, `{"serviceRevisions":[],"failures":[{"arn":"x","reason":"MISSING"}]}`)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"serviceRevisions": []any{map[string]any{"taskDefinition": testTaskDef}}})
	case ecsTarget + "DescribeTaskDefinition":
		_ = json.NewEncoder(w).Encode(map[string]any{"taskDefinition": map[string]any{
			"containerDefinitions": []any{
				map[string]any{"name": "adot-collector"},
				map[string]any{"name": "oneshot", "dockerLabels": f.labels},
			},
		}})
	default:
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"__type":"UnknownOperationException"}`)
	}
}

func (f *fakeAWS) calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.targets...)
}

func (f *fakeService) auths() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.authSeen...)
}

type fixture struct {
	svc  *fakeService
	aws  *fakeAWS
	hook *hook
	logs *bytes.Buffer
}

func newFixture(t *testing.T, mutate func(*fixture)) *fixture {
	t.Helper()
	f := &fixture{
		svc:  &fakeService{version: "v1.4.0"},
		aws:  &fakeAWS{t: t, secret: testToken + "\n", labels: map[string]string{versionLabel: "v1.4.0"}},
		logs: &bytes.Buffer{},
	}
	svcSrv := httptest.NewServer(f.svc)
	t.Cleanup(svcSrv.Close)
	awsSrv := httptest.NewServer(f.aws)
	t.Cleanup(awsSrv.Close)
	env := map[string]string{
		"SMOKE_BASE_URL":        svcSrv.URL,
		"SMOKE_TOKEN_SECRET_ID": testSecret,
		"AWS_REGION":            "eu-west-1",
		"AWS_ACCESS_KEY_ID":     "AKIDTEST",
		"AWS_SECRET_ACCESS_KEY": "secret",
		"AWS_SESSION_TOKEN":     "session-token",
	}
	cfg, err := configFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	cfg.ReadyTimeout = 2 * time.Second
	cfg.RequestTimeout = 500 * time.Millisecond
	cfg.RetryInterval = 20 * time.Millisecond
	f.hook = newHook(cfg, func(k string) string { return env[k] }, slog.New(slog.NewJSONHandler(f.logs, nil)))
	f.hook.aws.(*awsClient).endpoint = func(string) string { return awsSrv.URL }
	if mutate != nil {
		mutate(f)
	}
	return f
}

func hookEvent() event {
	var ev event
	payload := `{
	  "executionId": "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111",
	  "lifecycleStage": "POST_TEST_TRAFFIC_SHIFT",
	  "resourceArn": "arn:aws:ecs:eu-west-1:123456789012:service-deployment/oneshot-dev/oneshot-dev-api/abc",
	  "executionDetails": {
	    "serviceArn": "arn:aws:ecs:eu-west-1:123456789012:service/oneshot-dev/oneshot-dev-api",
	    "targetServiceRevisionArn": "` + testRevision + `",
	    "testTrafficWeights": {"` + testRevision + `": 100},
	    "productionTrafficWeights": {}
	  }
	}`
	if err := json.Unmarshal([]byte(payload), &ev); err != nil {
		panic(err)
	}
	return ev
}

func TestHookSucceedsWhenEveryCheckPasses(t *testing.T) {
	f := newFixture(t, nil)
	res := f.hook.handle(context.Background(), hookEvent())
	if res.HookStatus != hookSucceeded {
		t.Fatalf("hookStatus = %s; logs:\n%s", res.HookStatus, f.logs)
	}
	if got := f.svc.auths(); len(got) != 1 || got[0] != "Bearer "+testToken {
		t.Errorf("status was called with %q", got)
	}
	wantTargets := []string{ecsTarget + "DescribeServiceRevisions", ecsTarget + "DescribeTaskDefinition", "secretsmanager.GetSecretValue"}
	if got := f.aws.calls(); strings.Join(got, ",") != strings.Join(wantTargets, ",") {
		t.Errorf("AWS calls = %v, want %v", got, wantTargets)
	}
	if strings.Contains(f.logs.String(), testToken) {
		t.Error("the token was logged")
	}
}

func TestHookWaitsForReadiness(t *testing.T) {
	f := newFixture(t, func(f *fixture) { f.svc.notReadyFor = 3 })
	if res := f.hook.handle(context.Background(), hookEvent()); res.HookStatus != hookSucceeded {
		t.Fatalf("hookStatus = %s; logs:\n%s", res.HookStatus, f.logs)
	}
	if n := f.svc.readyCalls.Load(); n != 4 {
		t.Errorf("readyz called %d times, want 4", n)
	}
}

func TestHookFails(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*fixture)
		wantLog string
	}{
		{"wrong version answers", func(f *fixture) { f.svc.version = "v1.3.9" }, `answered version \"v1.3.9\", want \"v1.4.0\"`},
		{"never ready", func(f *fixture) {
			f.svc.notReadyFor = 1 << 30
			f.hook.cfg.ReadyTimeout = 200 * time.Millisecond
		}, "503 Service Unavailable"},
		{"token rejected", func(f *fixture) { f.aws.secret = "os_revoked" }, "401 Unauthorized"},
		{"status errors", func(f *fixture) {
			f.svc.statusCode = http.StatusInternalServerError
			f.svc.statusBody = `{"error":{"code":"internal","message":"read status: database down"}}`
		}, "database down"},
		{"status without counts", func(f *fixture) { f.svc.statusCode, f.svc.statusBody = 200, `{}` }, "without task counts"},
		{"timeout", func(f *fixture) {
			f.svc.delay = time.Second
			f.hook.cfg.RequestTimeout = 50 * time.Millisecond
			f.hook.cfg.ReadyTimeout = 300 * time.Millisecond
		}, "timed out"},
		{"unreachable", func(f *fixture) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				panic(err)
			}
			addr := ln.Addr().String()
			_ = ln.Close()
			f.hook.cfg.BaseURL = "http://" + addr
			f.hook.cfg.ReadyTimeout = 200 * time.Millisecond
		}, "unreachable"},
		{"secret missing", func(f *fixture) {
			f.hook.cfg.TokenSecretID = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:gone"
		}, "ResourceNotFoundException"},
		{"empty secret", func(f *fixture) { f.aws.secret = "  \n" }, "oneshot token create"},
		{"ECS denies", func(f *fixture) { f.aws.failOn = ecsTarget + "DescribeTaskDefinition" }, "AccessDeniedException"},
		{"unsigned AWS calls", func(f *fixture) { f.hook.aws.(*awsClient).creds.SessionToken = "" }, "MissingAuthenticationTokenException"},
		{"no version label", func(f *fixture) { f.aws.labels = nil }, "has no org.opencontainers.image.version label"},
		{"other container name", func(f *fixture) { f.hook.cfg.ContainerName = "app" }, "no container named app"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.mutate)
			res := f.hook.handle(context.Background(), hookEvent())
			if res.HookStatus != hookFailed {
				t.Fatalf("hookStatus = %s, want FAILED; logs:\n%s", res.HookStatus, f.logs)
			}
			if !strings.Contains(f.logs.String(), tt.wantLog) {
				t.Errorf("logs do not say %q:\n%s", tt.wantLog, f.logs)
			}
		})
	}
}

func TestHookStopsAtTheInvocationDeadline(t *testing.T) {
	f := newFixture(t, func(f *fixture) {
		f.svc.notReadyFor = 1 << 30
		f.hook.cfg.ReadyTimeout = time.Hour
	})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if res := f.hook.handle(ctx, hookEvent()); res.HookStatus != hookFailed {
		t.Fatalf("hookStatus = %s", res.HookStatus)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the hook ran %s past a 300ms deadline", d)
	}
}

func TestExpectedVersionFromHookDetails(t *testing.T) {
	f := newFixture(t, func(f *fixture) { f.svc.version = "v9.9.9" })
	ev := event{HookDetails: json.RawMessage(`{"expectedVersion": "v9.9.9", "team": "platform"}`)}
	if res := f.hook.handle(context.Background(), ev); res.HookStatus != hookSucceeded {
		t.Fatalf("hookStatus = %s; logs:\n%s", res.HookStatus, f.logs)
	}
	for _, target := range f.aws.calls() {
		if strings.HasPrefix(target, ecsTarget) {
			t.Errorf("ECS was asked (%s) although the hook details named the version", target)
		}
	}
}

// Hook details of another shape are ignored, not an invalid event.
func TestOtherHookDetailsAreIgnored(t *testing.T) {
	f := newFixture(t, nil)
	ev := hookEvent()
	ev.HookDetails = json.RawMessage(`"just a string"`)
	if res := f.hook.handle(context.Background(), ev); res.HookStatus != hookSucceeded {
		t.Fatalf("hookStatus = %s; logs:\n%s", res.HookStatus, f.logs)
	}
}

func TestEventWithoutRevisionOrVersionFails(t *testing.T) {
	f := newFixture(t, nil)
	if res := f.hook.handle(context.Background(), event{}); res.HookStatus != hookFailed {
		t.Fatalf("hookStatus = %s", res.HookStatus)
	}
	if !strings.Contains(f.logs.String(), "nothing to compare") {
		t.Errorf("logs:\n%s", f.logs)
	}
}

func TestConfigFromEnv(t *testing.T) {
	_, err := configFromEnv(func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "SMOKE_BASE_URL") || !strings.Contains(err.Error(), "SMOKE_TOKEN_SECRET_ID") {
		t.Errorf("err = %v", err)
	}
	env := map[string]string{"SMOKE_BASE_URL": "https://api.example.com:8443/", "SMOKE_TOKEN_SECRET_ID": "s", "SMOKE_READY_TIMEOUT": "90s", "SMOKE_REQUEST_TIMEOUT": "soon"}
	c, err := configFromEnv(func(k string) string { return env[k] })
	if err == nil || !strings.Contains(err.Error(), "SMOKE_REQUEST_TIMEOUT") {
		t.Errorf("err = %v", err)
	}
	if c.BaseURL != "https://api.example.com:8443" || c.ReadyTimeout != 90*time.Second || c.ContainerName != "oneshot" {
		t.Errorf("config = %+v", c)
	}
}
