package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oneshot-run/oneshot/internal/config"
	"github.com/oneshot-run/oneshot/internal/store"
)

// harness is an API server on a real store, with an admin token.
type harness struct {
	t     *testing.T
	store store.Store
	srv   *httptest.Server
	token string
	logs  *syncBuffer
	opts  Options
}

// syncBuffer collects log output written from handler goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testConfig has two profiles, a cap of 5 iterations and an allow-list.
func testConfig() *config.Config {
	c := config.Defaults()
	c.MaxIterationsCap = 5
	c.RepoAllowlist = []string{"https://github.com/example", "https://git.example.org/team/"}
	c.Profiles = map[string]config.Profile{
		"default": {
			Worker:        config.Agent{Executor: "direct", Endpoint: "http://127.0.0.1:11434/v1", Model: "qwen3", APIKeyEnv: "OPENAI_API_KEY"},
			Auditor:       config.Agent{Executor: "direct", Endpoint: "http://127.0.0.1:11434/v1", Model: "qwen3-auditor"},
			MaxIterations: 2,
		},
		"large": {
			Worker:  config.Agent{Executor: "claude", Model: "opus"},
			Auditor: config.Agent{Executor: "claude", Model: "sonnet"},
		},
	}
	return c
}

func newHarness(t *testing.T, st store.Store, mod func(*Options)) *harness {
	t.Helper()
	logs := &syncBuffer{}
	o := Options{
		Store:             st,
		Config:            testConfig(),
		Logger:            slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		HeartbeatInterval: 50 * time.Millisecond,
		PollInterval:      100 * time.Millisecond,
	}
	if mod != nil {
		mod(&o)
	}
	srv := httptest.NewServer(New(o))
	t.Cleanup(srv.Close)
	secret, hash := NewToken()
	if _, err := st.CreateToken(context.Background(), "test-admin", true, hash); err != nil {
		t.Fatalf("create token: %v", err)
	}
	return &harness{t: t, store: st, srv: srv, token: secret, logs: logs, opts: o}
}

// request sends a request with the harness token (unless headers set Authorization,
// possibly to ""). body may be a string, []byte or a value to encode as JSON.
func (h *harness) request(method, path string, body any, headers ...string) *http.Response {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, h.srv.URL+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+h.token)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp
}

// decode reads a JSON response, failing the test unless its status is want.
func decode[T any](t *testing.T, resp *http.Response, want int) T {
	t.Helper()
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d; body %s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, want, b)
	}
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

// apiErr is the decoded error body.
type apiErr struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// createTask creates a task and returns it.
func (h *harness) createTask(body any, headers ...string) taskView {
	h.t.Helper()
	return decode[taskView](h.t, h.request("POST", "/api/v1/tasks", body, headers...), http.StatusCreated)
}

// sseFrame is one Server-Sent Event.
type sseFrame struct {
	id, event, data string
	comment         bool
}

// readSSE parses a Server-Sent Events stream into frames until it ends.
func readSSE(body io.Reader) <-chan sseFrame {
	out := make(chan sseFrame, 100)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var f sseFrame
		have := false
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if have {
					out <- f
				}
				f, have = sseFrame{}, false
			case strings.HasPrefix(line, ":"):
				out <- sseFrame{comment: true, data: line}
			default:
				k, v, _ := strings.Cut(line, ":")
				v = strings.TrimPrefix(v, " ")
				have = true
				switch k {
				case "id":
					f.id = v
				case "event":
					f.event = v
				case "data":
					f.data += v
				case "retry":
					f.event, f.data = "retry", v
				}
			}
		}
	}()
	return out
}

// nextFrame returns the next non-comment frame, failing after timeout. ok is false when
// the stream ended.
func nextFrame(t *testing.T, frames <-chan sseFrame, timeout time.Duration) (sseFrame, bool) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case f, ok := <-frames:
			if !ok {
				return sseFrame{}, false
			}
			if f.comment {
				continue
			}
			return f, true
		case <-deadline:
			t.Fatalf("no event within %s", timeout)
		}
	}
}
