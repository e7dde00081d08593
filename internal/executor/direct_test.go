package executor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/oneshot-run/oneshot/internal/activity"
	"github.com/oneshot-run/oneshot/internal/fakeopenai"
)

// directEvents records what an executor emits; safe for the flush timer's goroutine.
type directEvents struct {
	mu     sync.Mutex
	events []activity.Event
	at     []time.Time
}

func (r *directEvents) emit(e activity.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	r.at = append(r.at, time.Now())
}

func (r *directEvents) all() []activity.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

func (r *directEvents) texts(typ activity.Type) []string { return eventLog(r.all()).texts(typ) }

// directTestOptions keeps the production shape with test-sized durations.
func directTestOptions() directOptions {
	o := defaultDirectOptions()
	o.Retry.BaseDelay = 5 * time.Millisecond
	o.Retry.MaxDelay = 40 * time.Millisecond
	o.Retry.MaxRetryAfter = 3 * time.Second
	o.FlushInterval = 50 * time.Millisecond
	return o
}

func newTestDirect(t *testing.T, spec Spec, opts directOptions) *directExecutor {
	t.Helper()
	spec.Executor = "direct"
	if spec.Model == "" {
		spec.Model = "llama3.2"
	}
	if spec.InactivityTimeout == 0 {
		spec.InactivityTimeout = 5 * time.Second
	}
	if spec.MaxTimeout == 0 {
		spec.MaxTimeout = 20 * time.Second
	}
	d, err := newDirectWithOptions(spec, opts)
	if err != nil {
		t.Fatalf("newDirectWithOptions: %v", err)
	}
	return d
}

func runDirect(t *testing.T, d *directExecutor, prompt string) (Result, error, *directEvents) {
	t.Helper()
	rec := &directEvents{}
	res, err := d.Run(t.Context(), Request{Prompt: prompt}, rec.emit)
	return res, err, rec
}

// checkDirectEvents asserts what every event stream must satisfy: the executor
// leaves stamping to the caller, and every Data is JSON that can be logged.
func checkDirectEvents(t *testing.T, rec *directEvents) {
	t.Helper()
	for i, e := range rec.all() {
		if e.Seq != 0 || !e.TS.IsZero() || e.Task != "" || e.Role != "" || e.Executor != "" {
			t.Errorf("event %d stamped by the executor: %+v", i, e)
		}
		if _, err := json.Marshal(e); err != nil {
			t.Errorf("event %d does not encode: %v (data %q)", i, err, e.Data)
		}
	}
}

func TestDirectStreamsAnswerReasoningAndUsage(t *testing.T) {
	const answer = "The answer is 42.\nIt is six times seven."
	tests := []struct {
		name   string
		flavor fakeopenai.Flavor
		reply  fakeopenai.Reply
	}{
		{"ollama", fakeopenai.Ollama, fakeopenai.Reply{}},
		{"openai", fakeopenai.OpenAI, fakeopenai.Reply{}},
		{"vllm", fakeopenai.VLLM, fakeopenai.Reply{}},
		{"keep-alive comments", fakeopenai.Ollama, fakeopenai.Reply{KeepAlive: true}},
		{"multi-line data", fakeopenai.OpenAI, fakeopenai.Reply{MultiLineData: true}},
		{"no [DONE] after finish_reason", fakeopenai.VLLM, fakeopenai.Reply{NoDone: true}},
		{"server ignores stream:true", fakeopenai.Ollama, fakeopenai.Reply{NoStream: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := fakeopenai.New(t, fakeopenai.WithFlavor(tt.flavor))
			reply := tt.reply
			reply.Content, reply.Reasoning = answer, "Six sevens.\nThat is 42."
			reply.Usage = &fakeopenai.Usage{Prompt: 31, Completion: 9}
			srv.Script(reply)
			d := newTestDirect(t, Spec{Endpoint: srv.URL}, directTestOptions())

			res, err, rec := runDirect(t, d, "What is 6 times 7?")
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			checkDirectEvents(t, rec)
			if res.Text != answer {
				t.Errorf("answer %q, want %q", res.Text, answer)
			}
			if want := (Usage{InputTokens: 31, OutputTokens: 9}); res.Usage != want {
				t.Errorf("usage %+v, want %+v", res.Usage, want)
			}
			if got, want := rec.texts(activity.Message), []string{"The answer is 42.", "It is six times seven."}; !slices.Equal(got, want) {
				t.Errorf("message events %q, want one per line %q", got, want)
			}
			if got, want := rec.texts(activity.Thought), []string{"Six sevens.", "That is 42."}; !slices.Equal(got, want) {
				t.Errorf("thought events %q, want %q", got, want)
			}
			if got := rec.texts(activity.Usage); len(got) != 1 || got[0] != "31 input tokens, 9 output tokens" {
				t.Errorf("usage events %q", got)
			}
			if got := rec.texts(activity.Error); len(got) != 0 {
				t.Errorf("unexpected error events %q", got)
			}
			events := rec.all()
			if events[0].Type != activity.Preamble || !strings.Contains(events[0].Text, "llama3.2") {
				t.Errorf("first event %+v, want a preamble naming the model", events[0])
			}
			last := events[len(events)-1]
			if last.Type != activity.Result || last.Text != answer {
				t.Errorf("last event %+v, want the result with the whole answer", last)
			}
			// thoughts come before the answer they led to
			firstThought := slices.IndexFunc(events, func(e activity.Event) bool { return e.Type == activity.Thought })
			firstMessage := slices.IndexFunc(events, func(e activity.Event) bool { return e.Type == activity.Message })
			if firstThought > firstMessage {
				t.Errorf("thought at %d after message at %d", firstThought, firstMessage)
			}

			reqs := srv.Requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r.Model != "llama3.2" || !r.Stream || !r.IncludeUsage || r.HasAuth || r.Path != "/v1/chat/completions" {
				t.Errorf("request %+v: want model llama3.2, stream with usage, no auth, /v1/chat/completions", r)
			}
			if len(r.Messages) != 1 || r.Messages[0].Role != "user" || r.Messages[0].Content != "What is 6 times 7?" {
				t.Errorf("messages %+v, want the prompt as one user message", r.Messages)
			}
		})
	}
}

func TestDirectEndpointForms(t *testing.T) {
	srv := fakeopenai.New(t)
	for _, endpoint := range []string{srv.URL, srv.URL + "/", srv.URL + "/chat/completions"} {
		d := newTestDirect(t, Spec{Endpoint: endpoint}, directTestOptions())
		if _, err, _ := runDirect(t, d, "hi"); err != nil {
			t.Errorf("endpoint %q: %v", endpoint, err)
		}
	}
	for _, r := range srv.Requests() {
		if r.Path != "/v1/chat/completions" {
			t.Errorf("request went to %q", r.Path)
		}
	}
}

func TestDirectNeedsModelAndValidEndpoint(t *testing.T) {
	_, err := New(Spec{Executor: "direct"})
	if err == nil || !strings.Contains(err.Error(), "--worker-model") {
		t.Errorf("no model: err = %v, want one that says to set --worker-model", err)
	}
	for _, endpoint := range []string{"localhost:11434/v1", "ftp://host/v1", "http://"} {
		_, err := New(Spec{Executor: "direct", Model: "m", Endpoint: endpoint})
		if err == nil || !strings.Contains(err.Error(), "--worker-endpoint") {
			t.Errorf("endpoint %q: err = %v, want one that says to fix --worker-endpoint", endpoint, err)
		}
	}
	ex, err := New(Spec{Executor: "direct", Model: "m"})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if d := ex.(*directExecutor); d.url != DefaultDirectEndpoint+"/chat/completions" || d.spec.InactivityTimeout != DefaultInactivityTimeout {
		t.Errorf("defaults: url %q, inactivity %v", d.url, d.spec.InactivityTimeout)
	}
}

func TestDirectBearerOnlyWithKey(t *testing.T) {
	const key = "sk-test-0123456789abcdef"
	srv := fakeopenai.New(t, fakeopenai.WithAPIKey(key))
	d := newTestDirect(t, Spec{Endpoint: srv.URL, APIKey: key}, directTestOptions())
	if _, err, _ := runDirect(t, d, "hi"); err != nil {
		t.Fatalf("with the right key: %v", err)
	}
	open := fakeopenai.New(t)
	d = newTestDirect(t, Spec{Endpoint: open.URL}, directTestOptions())
	if _, err, _ := runDirect(t, d, "hi"); err != nil {
		t.Fatalf("without a key: %v", err)
	}
	if !srv.Requests()[0].HasAuth || open.Requests()[0].HasAuth {
		t.Errorf("Authorization sent: with key %v, without key %v; want true, false",
			srv.Requests()[0].HasAuth, open.Requests()[0].HasAuth)
	}
}

func TestDirectRetriesRateLimitHonouringRetryAfter(t *testing.T) {
	srv := fakeopenai.New(t)
	srv.Script(fakeopenai.Reply{Status: 429, RetryAfter: "1"}, fakeopenai.Reply{Content: "ok"})
	d := newTestDirect(t, Spec{Endpoint: srv.URL}, directTestOptions())

	res, err, rec := runDirect(t, d, "hi")
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.Text != "ok" {
		t.Errorf("answer %q", res.Text)
	}
	reqs := srv.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	if gap := reqs[1].At.Sub(reqs[0].At); gap < 950*time.Millisecond || gap > 5*time.Second {
		t.Errorf("retried after %v, want the 1s the server asked for", gap)
	}
	if got := rec.texts(activity.Error); !slices.Equal(got, []string{"model API 429, retrying in 1s (attempt 2/5)"}) {
		t.Errorf("error events %q", got)
	}
}

func TestDirectRetryAfterIsCapped(t *testing.T) {
	srv := fakeopenai.New(t)
	srv.Script(fakeopenai.Reply{Status: 503, RetryAfter: "3600"}, fakeopenai.Reply{Content: "ok"})
	opts := directTestOptions()
	opts.Retry.MaxRetryAfter = 100 * time.Millisecond
	d := newTestDirect(t, Spec{Endpoint: srv.URL}, opts)
	start := time.Now()
	if _, err, _ := runDirect(t, d, "hi"); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %v: an hour-long Retry-After must be capped", took)
	}
}

func TestDirectServerErrorsExhaustRetries(t *testing.T) {
	srv := fakeopenai.New(t, fakeopenai.WithFlavor(fakeopenai.OpenAI))
	srv.Script(fakeopenai.Reply{Status: 500})
	opts := directTestOptions()
	d := newTestDirect(t, Spec{Endpoint: srv.URL}, opts)

	_, err, rec := runDirect(t, d, "hi")
	checkError(t, err, []error{ErrModelAPI}, "HTTP 500", "The server had an error", "all 5 attempts")
	if Kind(err) != "model_api" {
		t.Errorf("error kind %q, want model_api", Kind(err))
	}
	reqs := srv.Requests()
	if len(reqs) != 5 {
		t.Fatalf("%d requests, want 5", len(reqs))
	}
	// backoff: every wait within [half, whole] of base·2^n capped at MaxDelay, plus scheduling slack
	for i := 1; i < len(reqs); i++ {
		full := min(opts.Retry.BaseDelay<<(i-1), opts.Retry.MaxDelay)
		if gap := reqs[i].At.Sub(reqs[i-1].At); gap < full/2 || gap > full+3*time.Second {
			t.Errorf("wait before attempt %d: %v, want between %v and %v", i+1, gap, full/2, full)
		}
	}
	errs := rec.texts(activity.Error)
	if len(errs) != 5 {
		t.Fatalf("error events %q: want 4 retry notices and the final error", errs)
	}
	for i, e := range errs[:4] {
		if !strings.HasPrefix(e, "model API 500, retrying in ") || !strings.HasSuffix(e, fmt.Sprintf("(attempt %d/5)", i+2)) {
			t.Errorf("retry notice %q", e)
		}
	}
	var last activity.Event
	for _, e := range rec.all() {
		if e.Type == activity.Error {
			last = e
		}
	}
	if !strings.Contains(string(last.Data), "server_error") {
		t.Errorf("final error event data %s, want the server's error body", last.Data)
	}
}

func TestDirectRetriesResetConnection(t *testing.T) {
	srv := fakeopenai.New(t)
	srv.Script(fakeopenai.Reply{Reset: true}, fakeopenai.Reply{Content: "ok"})
	d := newTestDirect(t, Spec{Endpoint: srv.URL}, directTestOptions())
	res, err, rec := runDirect(t, d, "hi")
	if err != nil || res.Text != "ok" {
		t.Fatalf("Run = %q, %v; want ok after a retry", res.Text, err)
	}
	if errs := rec.texts(activity.Error); len(errs) != 1 || !strings.Contains(errs[0], "connection reset, retrying") {
		t.Errorf("error events %q", errs)
	}
}

func TestDirectExplainsFailures(t *testing.T) {
	const key = "sk-proj-abcdefghijklmnopqrstuvwxyz012345"
	type check struct {
		is    []error
		says  []string
		calls int
	}
	tests := []struct {
		name   string
		opts   []fakeopenai.Option
		reply  fakeopenai.Reply
		spec   func(srv *fakeopenai.Server) Spec
		expect check
	}{
		{
			name:   "wrong API key",
			opts:   []fakeopenai.Option{fakeopenai.WithAPIKey("sk-the-right-key-00000000000")},
			spec:   func(s *fakeopenai.Server) Spec { return Spec{Endpoint: s.URL, APIKey: key} },
			expect: check{[]error{ErrModelAPI}, []string{"rejected the API key", "invalid_api_key", "ONESHOT_WORKER_API_KEY", "ONESHOT_AUDITOR_API_KEY", "OPENAI_API_KEY"}, 1},
		},
		{
			name:   "no API key",
			opts:   []fakeopenai.Option{fakeopenai.WithAPIKey("sk-the-right-key-00000000000")},
			spec:   func(s *fakeopenai.Server) Spec { return Spec{Endpoint: s.URL} },
			expect: check{[]error{ErrModelAPI}, []string{"HTTP 401", "none was set", "ONESHOT_WORKER_API_KEY"}, 1},
		},
		{
			name:   "forbidden",
			reply:  fakeopenai.Reply{Status: 403},
			spec:   func(s *fakeopenai.Server) Spec { return Spec{Endpoint: s.URL, APIKey: key} },
			expect: check{[]error{ErrModelAPI}, []string{"HTTP 403", "not allowed to sample", "ONESHOT_WORKER_API_KEY"}, 1},
		},
		{
			name:   "ollama model not pulled",
			opts:   []fakeopenai.Option{fakeopenai.WithModels("llama3.2")},
			spec:   func(s *fakeopenai.Server) Spec { return Spec{Endpoint: s.URL, Model: "qwen3:8b"} },
			expect: check{[]error{ErrModelAPI, ErrNotFound}, []string{`model "qwen3:8b" not found at`, "try pulling it first", "`ollama pull qwen3:8b`", "--worker-model"}, 1},
		},
		{
			name:   "openai model does not exist",
			opts:   []fakeopenai.Option{fakeopenai.WithFlavor(fakeopenai.OpenAI), fakeopenai.WithModels("gpt-4o")},
			spec:   func(s *fakeopenai.Server) Spec { return Spec{Endpoint: s.URL, Model: "gpt-9"} },
			expect: check{[]error{ErrModelAPI, ErrNotFound}, []string{`model "gpt-9" not found`, "does not exist", "--worker-model"}, 1},
		},
		{
			name:   "vllm model does not exist",
			opts:   []fakeopenai.Option{fakeopenai.WithFlavor(fakeopenai.VLLM), fakeopenai.WithModels("Qwen/Qwen3-8B")},
			spec:   func(s *fakeopenai.Server) Spec { return Spec{Endpoint: s.URL, Model: "qwen"} },
			expect: check{[]error{ErrModelAPI, ErrNotFound}, []string{`model "qwen" not found`}, 1},
		},
		{
			name:   "ollama base URL without /v1",
			spec:   func(s *fakeopenai.Server) Spec { return Spec{Endpoint: s.Root()} },
			expect: check{[]error{ErrModelAPI}, []string{"has no /chat/completions", "404 page not found", "http://host:11434/v1"}, 0},
		},
		{
			name:   "openai base URL without /v1",
			opts:   []fakeopenai.Option{fakeopenai.WithFlavor(fakeopenai.OpenAI)},
			spec:   func(s *fakeopenai.Server) Spec { return Spec{Endpoint: s.Root()} },
			expect: check{[]error{ErrModelAPI}, []string{"has no /chat/completions", "Invalid URL"}, 0},
		},
		{
			name:   "vllm base URL without /v1",
			opts:   []fakeopenai.Option{fakeopenai.WithFlavor(fakeopenai.VLLM)},
			spec:   func(s *fakeopenai.Server) Spec { return Spec{Endpoint: s.Root()} },
			expect: check{[]error{ErrModelAPI}, []string{"has no /chat/completions", "Not Found"}, 0},
		},
		{
			name:   "bad request",
			reply:  fakeopenai.Reply{Status: 400, ErrorMessage: "prompt is too long: 300000 tokens > 200000 maximum"},
			spec:   func(s *fakeopenai.Server) Spec { return Spec{Endpoint: s.URL} },
			expect: check{[]error{ErrModelAPI}, []string{"HTTP 400", "prompt is too long: 300000 tokens > 200000 maximum"}, 1},
		},
		{
			name:   "error chunk mid-stream",
			reply:  fakeopenai.Reply{Content: "Partial answer that goes on", StreamError: "CUDA out of memory"},
			spec:   func(s *fakeopenai.Server) Spec { return Spec{Endpoint: s.URL} },
			expect: check{[]error{ErrModelAPI}, []string{"mid-answer", "CUDA out of memory"}, 1},
		},
		{
			name:   "malformed stream",
			reply:  fakeopenai.Reply{Content: "Partial answer that goes on", Malformed: true},
			spec:   func(s *fakeopenai.Server) Spec { return Spec{Endpoint: s.URL} },
			expect: check{[]error{ErrModelAPI}, []string{"unreadable stream chunk"}, 1},
		},
		{
			name:   "connection dropped mid-answer",
			reply:  fakeopenai.Reply{Content: "Partial answer that goes on", CutAfterFirstChunk: true},
			spec:   func(s *fakeopenai.Server) Spec { return Spec{Endpoint: s.URL} },
			expect: check{[]error{ErrModelAPI}, []string{"broke mid-answer", "incomplete"}, 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := fakeopenai.New(t, tt.opts...)
			srv.Script(tt.reply)
			d := newTestDirect(t, tt.spec(srv), directTestOptions())
			_, err, rec := runDirect(t, d, "hi")
			checkError(t, err, tt.expect.is, tt.expect.says...)
			checkDirectEvents(t, rec)
			if got := len(srv.Requests()); got != tt.expect.calls {
				t.Errorf("%d chat requests, want %d (no retries)", got, tt.expect.calls)
			}
			errs := rec.texts(activity.Error)
			if len(errs) != 1 || errs[0] != err.Error() {
				t.Errorf("error events %q, want exactly the returned error", errs)
			}
			for _, e := range rec.all() {
				if strings.Contains(e.Text, key) || strings.Contains(string(e.Data), key) {
					t.Errorf("event %+v shows the API key", e)
				}
			}
			if strings.Contains(err.Error(), key) {
				t.Errorf("error shows the API key: %v", err)
			}
		})
	}
}

func TestDirectConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	endpoint := "http://" + ln.Addr().String() + "/v1"
	ln.Close()
	d := newTestDirect(t, Spec{Endpoint: endpoint}, directTestOptions())
	start := time.Now()
	_, err, rec := runDirect(t, d, "hi")
	checkError(t, err, []error{ErrModelAPI}, "cannot reach the model endpoint "+endpoint, "is the server running", "ollama serve", "--worker-endpoint")
	if errs := rec.texts(activity.Error); len(errs) != 1 {
		t.Errorf("error events %q: a refused connection is not retried", errs)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %v: a refused connection is not retried", took)
	}
}

func TestDirectInactivity(t *testing.T) {
	tests := []struct {
		name        string
		reply       fakeopenai.Reply
		wantMessage []string
	}{
		{"server never answers", fakeopenai.Reply{Hang: true}, nil},
		{"stream stalls", fakeopenai.Reply{Content: "First words, then nothing.", StallAfterFirstChunk: true}, []string{"First w"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := fakeopenai.New(t)
			srv.Script(tt.reply)
			const idle = 300 * time.Millisecond
			d := newTestDirect(t, Spec{Endpoint: srv.URL, InactivityTimeout: idle}, directTestOptions())
			start := time.Now()
			res, err, rec := runDirect(t, d, "hi")
			took := time.Since(start)
			if !errors.Is(err, ErrInactivity) || Kind(err) != "inactivity" {
				t.Fatalf("err = %v, want the inactivity timeout", err)
			}
			if took < idle || took > idle+5*time.Second {
				t.Errorf("stopped after %v, want about %v", took, idle)
			}
			if n := len(srv.Requests()); n != 1 {
				t.Errorf("%d requests: an inactive server is not retried", n)
			}
			if got := rec.texts(activity.Message); !slices.Equal(got, tt.wantMessage) {
				t.Errorf("message events %q, want %q (the partial answer shown)", got, tt.wantMessage)
			}
			if got := strings.Join(tt.wantMessage, ""); res.Text != got {
				t.Errorf("partial result %q, want %q", res.Text, got)
			}
			if errs := rec.texts(activity.Error); len(errs) != 1 || !strings.Contains(errs[0], "sent nothing for 300ms") {
				t.Errorf("error events %q", errs)
			}
		})
	}
}

func TestDirectMaxTimeout(t *testing.T) {
	tests := []struct {
		name  string
		reply fakeopenai.Reply
	}{
		{"slow stream", fakeopenai.Reply{Content: "one two three four five six", ChunkDelay: 150 * time.Millisecond}},
		{"retry wait beyond the limit", fakeopenai.Reply{Status: 503, RetryAfter: "2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := fakeopenai.New(t)
			srv.Script(tt.reply)
			d := newTestDirect(t, Spec{Endpoint: srv.URL, MaxTimeout: 250 * time.Millisecond}, directTestOptions())
			start := time.Now()
			_, err, _ := runDirect(t, d, "hi")
			if !errors.Is(err, ErrMaxTimeout) || Kind(err) != "timeout" {
				t.Fatalf("err = %v, want the maximum run time", err)
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("stopped after %v, want about 250ms", took)
			}
		})
	}
}

func TestDirectCancel(t *testing.T) {
	for _, reply := range []fakeopenai.Reply{{Hang: true}, {Content: "a b c d", StallAfterFirstChunk: true}, {Status: 429, RetryAfter: "5"}} {
		srv := fakeopenai.New(t)
		srv.Script(reply)
		d := newTestDirect(t, Spec{Endpoint: srv.URL, InactivityTimeout: time.Minute}, directTestOptions())
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		rec := &directEvents{}
		_, err := d.Run(ctx, Request{Prompt: "hi"}, rec.emit)
		if !errors.Is(err, context.Canceled) || Kind(err) != "cancelled" {
			t.Errorf("%+v: err = %v, want cancellation", reply, err)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("%+v: stopped %v after the start, want at once after the cancel at 100ms", reply, took)
		}
		if n := len(rec.all()); n > 0 {
			emitted := rec.all()
			for _, e := range emitted {
				if e.Type == activity.Error && !strings.Contains(e.Text, "retrying") {
					t.Errorf("%+v: a cancelled run reported %q as an error", reply, e.Text)
				}
			}
		}
	}
}

func TestDirectToolCalls(t *testing.T) {
	for _, flavor := range []fakeopenai.Flavor{fakeopenai.Ollama, fakeopenai.OpenAI} {
		t.Run(flavor.String(), func(t *testing.T) {
			srv := fakeopenai.New(t, fakeopenai.WithFlavor(flavor))
			srv.Script(fakeopenai.Reply{Content: "Listing files.", ToolCalls: []fakeopenai.ToolCall{
				{Name: "shell", Arguments: `{"command":"ls -la"}`},
				{Name: "read_file", Arguments: `{"path":"README.md"}`},
			}})
			d := newTestDirect(t, Spec{Endpoint: srv.URL}, directTestOptions())
			res, err, rec := runDirect(t, d, "hi")
			if err != nil {
				t.Fatal(err)
			}
			checkDirectEvents(t, rec)
			if got, want := rec.texts(activity.ToolUse), []string{`shell {"command":"ls -la"}`, `read_file {"path":"README.md"}`}; !slices.Equal(got, want) {
				t.Errorf("tool_use events %q, want %q", got, want)
			}
			if res.Text != "Listing files." {
				t.Errorf("answer %q", res.Text)
			}
			for _, e := range rec.all() {
				if e.Type == activity.ToolUse {
					var call struct {
						ID       string `json:"id"`
						Function struct{ Name, Arguments string }
					}
					if err := json.Unmarshal(e.Data, &call); err != nil || call.ID == "" || call.Function.Name == "" {
						t.Errorf("tool_use data %s: %v", e.Data, err)
					}
				}
			}
		})
	}
}

// directRawServer serves h on a loopback port for the length of the test.
func directRawServer(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts.URL + "/v1"
}

func directChunkJSON(content string) string {
	b, _ := json.Marshal(map[string]any{"id": "c1", "object": "chat.completion.chunk", "model": "m",
		"choices": []any{map[string]any{"index": 0, "delta": map[string]any{"content": content}, "finish_reason": nil}}})
	return string(b)
}

func TestDirectCoalescesTokensIntoLines(t *testing.T) {
	text := "Here is a plan:\n1. read the code\n2. change it\n\nDone."
	endpoint := directRawServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for _, r := range text { // one token per character
			fmt.Fprintf(w, "data: %s\n\n", directChunkJSON(string(r)))
		}
		fmt.Fprint(w, "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n")
	})
	d := newTestDirect(t, Spec{Endpoint: endpoint}, directTestOptions())
	res, err, rec := runDirect(t, d, "hi")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"Here is a plan:", "1. read the code", "2. change it", "Done."}
	if got := rec.texts(activity.Message); !slices.Equal(got, want) {
		t.Errorf("message events %q, want one per line %q", got, want)
	}
	if res.Text != text {
		t.Errorf("answer %q", res.Text)
	}
}

func TestDirectFlushesPendingTextOnATimer(t *testing.T) {
	release := make(chan struct{})
	endpoint := directRawServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprintf(w, "data: %s\n\n", directChunkJSON("Thinking about it"))
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		fmt.Fprintf(w, "data: %s\n\n", directChunkJSON(" some more.\n"))
		fmt.Fprint(w, "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n")
	})
	d := newTestDirect(t, Spec{Endpoint: endpoint}, directTestOptions())
	rec := &directEvents{}
	done := make(chan error, 1)
	go func() {
		_, err := d.Run(t.Context(), Request{Prompt: "hi"}, rec.emit)
		done <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for len(rec.texts(activity.Message)) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got, want := rec.texts(activity.Message), []string{"Thinking about it", " some more."}; !slices.Equal(got, want) {
		t.Errorf("message events %q, want the unfinished line shown while the model paused, %q", got, want)
	}
}

func TestDirectBoundsEachMessageEvent(t *testing.T) {
	long := strings.Repeat("é", 10000) // 20000 bytes
	for name, content := range map[string]string{"no newline": long, "one long line": long + "\n"} {
		srv := fakeopenai.New(t)
		srv.Script(fakeopenai.Reply{Content: content})
		d := newTestDirect(t, Spec{Endpoint: srv.URL}, directTestOptions())
		res, err, rec := runDirect(t, d, "hi")
		if err != nil {
			t.Fatal(err)
		}
		msgs := rec.texts(activity.Message)
		if strings.Join(msgs, "") != long || res.Text != content {
			t.Fatalf("%s: text lost: %d message events", name, len(msgs))
		}
		for _, m := range msgs {
			if len(m) > 4<<10 || !utf8.ValidString(m) {
				t.Errorf("%s: message event of %d bytes (valid UTF-8: %v), want whole characters, at most 4 KiB", name, len(m), utf8.ValidString(m))
			}
		}
	}
}

func TestDirectRetriesWithoutStreamOptionsWhenRejected(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	endpoint := directRawServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
		if strings.Contains(string(b), "stream_options") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(400)
			fmt.Fprint(w, `{"error":{"message":"Unrecognized request argument supplied: stream_options","type":"invalid_request_error","param":null,"code":null}}`)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprintf(w, "data: %s\n\ndata: [DONE]\n\n", directChunkJSON("fine"))
	})
	d := newTestDirect(t, Spec{Endpoint: endpoint}, directTestOptions())
	res, err, _ := runDirect(t, d, "hi")
	if err != nil || res.Text != "fine" {
		t.Fatalf("Run = %q, %v", res.Text, err)
	}
	if len(bodies) != 2 {
		t.Errorf("%d requests, want 2", len(bodies))
	}
}

func TestDirectNeverShowsTheKey(t *testing.T) {
	const key = "sk-live-SECRET-98765432109876543210"
	// A misbehaving proxy that quotes the whole Authorization header back.
	endpoint := directRawServer(t, func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		switch r.URL.Query().Get("case") {
		case "stream":
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprintf(w, "data: %s\n\n", directChunkJSON("partial"))
			body, _ := json.Marshal(map[string]any{"error": map[string]any{"message": "upstream rejected " + auth, "code": 500}})
			fmt.Fprintf(w, "data: %s\n\n", body)
		case "garbage":
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprintf(w, "data: {not json %s\n\n", auth)
		default:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			body, _ := json.Marshal(map[string]any{"error": map[string]any{"message": "bad header " + auth, "type": "invalid_request_error"}})
			w.Write(body)
		}
	})
	for _, c := range []string{"status", "stream", "garbage"} {
		d := newTestDirect(t, Spec{Endpoint: endpoint + "/chat/completions?case=" + c, APIKey: key}, directTestOptions())
		_, err, rec := runDirect(t, d, "hi")
		if err == nil {
			t.Fatalf("%s: Run succeeded", c)
		}
		checkDirectEvents(t, rec)
		if strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), "[redacted]") {
			t.Errorf("%s: error %q: want the key replaced by [redacted]", c, err)
		}
		for _, e := range rec.all() {
			if strings.Contains(e.Text, key) || strings.Contains(string(e.Data), key) {
				t.Errorf("%s: event shows the key: %+v", c, e)
			}
		}
	}
}

func TestDirectRejectsWhatIsNotAChatAPI(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		body        string
		says        string
	}{
		{"web page", "text/html", "<!doctype html><html>Open WebUI</html>", "instead of an event stream"},
		{"other JSON", "application/json", `{"status":"ok"}`, "not a chat completion"},
		{"empty", "text/event-stream", "", "ended without a finish_reason"},
		{"stream cut before finish", "text/event-stream", "data: " + directChunkJSON("half an ans") + "\n\n", "ended without a finish_reason"},
		{"unlabelled stream is fine", "", "data: " + directChunkJSON("fine") + "\n\ndata: [DONE]\n\n", ""},
		{"text/plain JSON is fine", "text/plain", `{"choices":[{"message":{"content":"fine"},"finish_reason":"stop"}]}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			endpoint := directRawServer(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header()["Content-Type"] = []string{tt.contentType}
				io.WriteString(w, tt.body)
			})
			d := newTestDirect(t, Spec{Endpoint: endpoint}, directTestOptions())
			res, err, _ := runDirect(t, d, "hi")
			if tt.says == "" {
				if err != nil || res.Text != "fine" {
					t.Fatalf("Run = %q, %v; want fine", res.Text, err)
				}
				return
			}
			if !errors.Is(err, ErrModelAPI) || !strings.Contains(err.Error(), tt.says) {
				t.Errorf("err = %v, want a model API error saying %q", err, tt.says)
			}
		})
	}
}

func TestDirectBoundsTheAnswer(t *testing.T) {
	var body strings.Builder
	piece := strings.Repeat("x", 1023) + "\n"
	for range (directMaxAnswer / len(piece)) + 100 {
		fmt.Fprintf(&body, "data: %s\n\n", directChunkJSON(piece))
	}
	body.WriteString("data: [DONE]\n\n")
	turn := newDirectTurn(func(activity.Event) {}, directTestOptions(), nil)
	if err := turn.consumeSSE(strings.NewReader(body.String())); err != nil {
		t.Fatal(err)
	}
	res := turn.finish()
	if len(res.Text) > directMaxAnswer+100 || !strings.HasSuffix(res.Text, "[answer truncated at 4 MiB]") {
		t.Errorf("answer of %d bytes ending %q, want it cut at 4 MiB and marked", len(res.Text), res.Text[len(res.Text)-40:])
	}
}

func TestDirectRetryAfterParsing(t *testing.T) {
	now := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		header, value string
		want          time.Duration
		ok            bool
	}{
		{"Retry-After", "2", 2 * time.Second, true},
		{"Retry-After", " 0 ", 0, true},
		{"Retry-After", "Wed, 01 Jul 2026 12:00:30 GMT", 30 * time.Second, true},
		{"Retry-After", "Wed, 01 Jul 2026 11:00:00 GMT", 0, true},
		{"Retry-After", "-1", 0, false},
		{"Retry-After", "soon", 0, false},
		{"Retry-After-Ms", "250", 250 * time.Millisecond, true},
		{"X-Other", "2", 0, false},
	}
	for _, tt := range tests {
		h := http.Header{}
		h.Set(tt.header, tt.value)
		got, ok := directRetryAfter(h, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("%s: %q = %v, %v; want %v, %v", tt.header, tt.value, got, ok, tt.want, tt.ok)
		}
	}
}

func TestDirectBackoffGrowsAndIsCapped(t *testing.T) {
	p := directRetryPolicy{BaseDelay: time.Second, MaxDelay: 30 * time.Second, MaxAttempts: 5, MaxRetryAfter: time.Minute}
	for n, full := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 6: 30 * time.Second, 60: 30 * time.Second} {
		for range 50 {
			if got := p.delay(n, 0, false); got < full/2 || got > full {
				t.Fatalf("retry %d waited %v, want within [%v, %v]", n, got, full/2, full)
			}
		}
	}
	if got := p.delay(1, 5*time.Minute, true); got != time.Minute {
		t.Errorf("Retry-After of 5m waited %v, want the 1m cap", got)
	}
}

func TestDirectParsesErrorBodies(t *testing.T) {
	tests := []struct {
		body string
		want directAPIError
		ok   bool
	}{
		{`{"error":{"message":"model \"x\" not found, try pulling it first","type":"not_found_error","param":null,"code":null}}`,
			directAPIError{Message: `model "x" not found, try pulling it first`, Type: "not_found_error"}, true},
		{`{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`,
			directAPIError{Message: "Incorrect API key provided", Type: "invalid_request_error", Code: "invalid_api_key"}, true},
		{`{"object":"error","message":"The model ` + "`x`" + ` does not exist.","type":"NotFoundError","param":null,"code":404}`,
			directAPIError{Message: "The model `x` does not exist.", Type: "NotFoundError", Code: "404"}, true},
		{`{"error":"model 'x' not found"}`, directAPIError{Message: "model 'x' not found"}, true},
		{`{"detail":"Not Found"}`, directAPIError{Message: "Not Found"}, true},
		{`{"error":{"message":"boom","code":"500"}}`, directAPIError{Message: "boom", Code: "500"}, true},
		{`404 page not found`, directAPIError{}, false},
		{`{"choices":[]}`, directAPIError{}, false},
	}
	for _, tt := range tests {
		got, ok := directParseAPIError([]byte(tt.body))
		if got != tt.want || ok != tt.ok {
			t.Errorf("%s:\n got %+v, %v\nwant %+v, %v", tt.body, got, ok, tt.want, tt.ok)
		}
	}
}

func TestDirectSSEReader(t *testing.T) {
	type ev struct{ name, data string }
	tests := []struct {
		name string
		in   string
		want []ev
	}{
		{"LF", "data: a\n\ndata: b\n\n", []ev{{"", "a"}, {"", "b"}}},
		{"CRLF", "data: a\r\n\r\ndata: b\r\n\r\n", []ev{{"", "a"}, {"", "b"}}},
		{"CR", "data: a\r\rdata: b\r\r", []ev{{"", "a"}, {"", "b"}}},
		{"multi-line data", "data: {\"a\":\ndata: 1}\n\n", []ev{{"", "{\"a\":\n1}"}}},
		{"multi-line data with CRLF", "data: a\r\ndata: b\r\n\r\n", []ev{{"", "a\nb"}}},
		{"comments and keep-alives", ": keep-alive\n\n:\ndata: a\n: ping\n\n", []ev{{"", "a"}}},
		{"event field", "event: error\ndata: {}\n\nevent: message\ndata: x\n\n", []ev{{"error", "{}"}, {"message", "x"}}},
		{"event name does not leak", "event: ping\n\ndata: x\n\n", []ev{{"", "x"}}},
		{"no space after colon", "data:a\n\n", []ev{{"", "a"}}},
		{"only one space dropped", "data:  a\n\n", []ev{{"", " a"}}},
		{"field without colon", "data\n\n", []ev{{"", ""}}},
		{"id and retry ignored", "id: 7\nretry: 100\ndata: a\n\n", []ev{{"", "a"}}},
		{"unknown field ignored", "foo: bar\ndata: a\n\n", []ev{{"", "a"}}},
		{"last event without blank line", "data: a\n\ndata: [DONE]", []ev{{"", "a"}, {"", "[DONE]"}}},
		{"blank lines only", "\n\n\r\n", nil},
		{"long line across buffer refills", "data: " + strings.Repeat("y", 100000) + "\n\n", []ev{{"", strings.Repeat("y", 100000)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, oneByte := range []bool{false, true} {
				var r io.Reader = strings.NewReader(tt.in)
				if oneByte {
					r = &directOneByteReader{r}
				}
				got, err := directReadAll(newDirectSSEReader(r, 1<<20))
				if err != nil {
					t.Fatalf("one byte at a time %v: %v", oneByte, err)
				}
				var gotEv []ev
				for _, e := range got {
					gotEv = append(gotEv, ev{e.name, string(e.data)})
				}
				if !slices.Equal(gotEv, tt.want) {
					t.Errorf("one byte at a time %v: got %q, want %q", oneByte, gotEv, tt.want)
				}
			}
		})
	}
}

func TestDirectSSEReaderBoundsMemory(t *testing.T) {
	for name, in := range map[string]string{
		"one long line":      "data: " + strings.Repeat("z", 5000) + "\n\n",
		"many data lines":    strings.Repeat("data: zzzzzzzzzz\n", 1000) + "\n",
		"no line terminator": strings.Repeat("z", 5000),
	} {
		_, err := directReadAll(newDirectSSEReader(strings.NewReader(in), 4096))
		if !errors.Is(err, ErrModelAPI) || !strings.Contains(err.Error(), "larger than") {
			t.Errorf("%s: err = %v, want the size limit", name, err)
		}
	}
}

type directOneByteReader struct{ r io.Reader }

func (o *directOneByteReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	return o.r.Read(p[:1])
}

// directSSECopy is one parsed event, detached from the reader's buffers.
type directSSECopy struct {
	name string
	data []byte
}

func directReadAll(s *directSSEReader) ([]directSSECopy, error) {
	var out []directSSECopy
	for {
		e, err := s.next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, directSSECopy{e.name, slices.Clone(e.data)})
	}
}
