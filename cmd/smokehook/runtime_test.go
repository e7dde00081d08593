package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeRuntime is the Lambda Runtime API: it hands out the queued payloads one by one,
// then answers 500 (which ends serve), and records what the function posted.
type fakeRuntime struct {
	mu       sync.Mutex
	queue    [][]byte
	deadline time.Duration
	posts    map[string]post
	initErr  []byte
	served   int
}

type post struct {
	body      []byte
	errorType string
}

func (f *fakeRuntime) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/2018-06-01/runtime/invocation/next":
		if len(f.queue) == 0 {
			http.Error(w, "no more invocations", http.StatusInternalServerError)
			return
		}
		f.served++
		id := "req-" + strconv.Itoa(f.served)
		w.Header().Set("Lambda-Runtime-Aws-Request-Id", id)
		w.Header().Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(time.Now().Add(f.deadline).UnixMilli(), 10))
		w.Header().Set("Lambda-Runtime-Trace-Id", "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700")
		_, _ = w.Write(f.queue[0])
		f.queue = f.queue[1:]
	case r.Method == http.MethodPost && r.URL.Path == "/2018-06-01/runtime/init/error":
		f.initErr = body
		w.WriteHeader(http.StatusAccepted)
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/response"):
		id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/2018-06-01/runtime/invocation/"), "/response")
		f.posts[id] = post{body: body}
		w.WriteHeader(http.StatusAccepted)
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/error"):
		id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/2018-06-01/runtime/invocation/"), "/error")
		f.posts[id] = post{body: body, errorType: r.Header.Get("Lambda-Runtime-Function-Error-Type")}
		w.WriteHeader(http.StatusAccepted)
	default:
		http.NotFound(w, r)
	}
}

func startRuntime(t *testing.T, payloads ...string) (*fakeRuntime, *runtimeClient) {
	t.Helper()
	f := &fakeRuntime{deadline: 30 * time.Second, posts: map[string]post{}}
	for _, p := range payloads {
		f.queue = append(f.queue, []byte(p))
	}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, newRuntimeClient(strings.TrimPrefix(srv.URL, "http://"))
}

func TestServePostsEachAnswer(t *testing.T) {
	f, rt := startRuntime(t, `{"n":1}`, `{"n":2}`)
	var deadlines []time.Time
	err := rt.serve(context.Background(), func(ctx context.Context, payload []byte) ([]byte, error) {
		d, _ := ctx.Deadline()
		deadlines = append(deadlines, d)
		if bytes.Contains(payload, []byte(`2`)) {
			return nil, errors.New("boom")
		}
		return []byte(`{"hookStatus":"SUCCEEDED"}`), nil
	})
	if err == nil || !strings.Contains(err.Error(), "500") {
		t.Fatalf("serve ended with %v, want the runtime API's 500", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if got := string(f.posts["req-1"].body); got != `{"hookStatus":"SUCCEEDED"}` {
		t.Errorf("response = %s", got)
	}
	if p := f.posts["req-2"]; p.errorType != "SmokeHookError" || !bytes.Contains(p.body, []byte(`"errorMessage":"boom"`)) {
		t.Errorf("error post = %+v (%s)", p, p.body)
	}
	// The handler's deadline leaves a margin before Lambda's.
	for _, d := range deadlines {
		if left := time.Until(d); left > 29*time.Second || left < 20*time.Second {
			t.Errorf("handler deadline in %s, want about 28s", left)
		}
	}
}

// The whole function, as Lambda runs it: the Runtime API, the hook, the service and AWS.
func TestLambdaAnswersTheLifecycleHook(t *testing.T) {
	fx := newFixture(t, nil)
	ev, _ := json.Marshal(map[string]any{
		"executionId":      "e1",
		"lifecycleStage":   "POST_TEST_TRAFFIC_SHIFT",
		"executionDetails": map[string]string{"targetServiceRevisionArn": testRevision},
	})
	f, rt := startRuntime(t, string(ev), `not json`)
	_ = rt.serve(context.Background(), lambdaHandler(fx.hook))
	f.mu.Lock()
	defer f.mu.Unlock()
	if got := string(f.posts["req-1"].body); got != `{"hookStatus":"SUCCEEDED"}` {
		t.Errorf("answer to the hook event = %s; logs:\n%s", got, fx.logs)
	}
	// Garbage gets a decision too (FAILED), never a function error.
	if p := f.posts["req-2"]; string(p.body) != `{"hookStatus":"FAILED"}` || p.errorType != "" {
		t.Errorf("answer to garbage = %+v (%s)", p, p.body)
	}
}

func TestRunReportsABadConfigurationAsAnInitError(t *testing.T) {
	f, rt := startRuntime(t)
	env := map[string]string{"AWS_LAMBDA_RUNTIME_API": strings.TrimSuffix(strings.TrimPrefix(rt.base, "http://"), "/"+runtimeAPIVersion)}
	var stderr bytes.Buffer
	if code := run(nil, func(k string) string { return env[k] }, io.Discard, &stderr); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !bytes.Contains(f.initErr, []byte("SMOKE_BASE_URL")) {
		t.Errorf("init error = %s; stderr: %s", f.initErr, stderr.String())
	}
}

func TestRunOutsideLambdaSaysHow(t *testing.T) {
	var stderr bytes.Buffer
	if code := run(nil, func(string) string { return "" }, io.Discard, &stderr); code != 2 || !strings.Contains(stderr.String(), "-once") {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
}
