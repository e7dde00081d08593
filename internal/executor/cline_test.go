package executor

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oneshot-run/oneshot/internal/activity"
	"github.com/oneshot-run/oneshot/internal/fakeagent"
)

func TestClineArgv(t *testing.T) {
	tests := []struct {
		spec Spec
		want []string
	}{
		{Spec{}, []string{"cline", "-y", "--json"}},
		{Spec{Model: "claude-sonnet-4-5", ExtraArgs: []string{"--thinking"}},
			[]string{"cline", "-y", "--json", "-m", "claude-sonnet-4-5", "--thinking"}},
	}
	for _, tt := range tests {
		if got := (&clineExecutor{spec: tt.spec}).argv(); !slices.Equal(got, tt.want) {
			t.Errorf("argv %q, want %q", got, tt.want)
		}
	}
}

// Transcripts in the shape of Cline CLI 2.x --json output (its plain-text task runner
// writes JSON.stringify of each completed ClineMessage, one per line, after a
// task_started line, and {"type":"error"} before exiting 1), written for these tests.
const (
	clineSuccess = `{"type":"task_started","taskId":"1760501486000"}
{"ts":1760501486001,"type":"say","say":"task","text":"What is 6 times 7?"}
{"ts":1760501486002,"type":"say","say":"api_req_started","text":"{\"request\":\"<task>…</task>\",\"tokensIn\":1200,\"tokensOut\":80,\"cacheWrites\":10,\"cacheReads\":5,\"cost\":0.0042}"}
{"ts":1760501486003,"type":"say","say":"reasoning","text":"","reasoning":"Simple arithmetic."}
{"ts":1760501486004,"type":"say","say":"text","text":"I'll check the files first."}
{"ts":1760501486005,"type":"say","say":"command","text":"ls"}
{"ts":1760501486006,"type":"say","say":"command_output","text":"README.md"}
{"ts":1760501486007,"type":"say","say":"tool","text":"{\"tool\":\"readFile\",\"path\":\"README.md\",\"content\":\"…\"}"}
{"ts":1760501486008,"type":"say","say":"api_req_started","text":"{\"request\":\"[read_file]\"}"}
{"ts":1760501486009,"type":"say","say":"completion_result","text":"The answer is 42.HAS_CHANGES"}
{"ts":1760501486010,"type":"ask","ask":"completion_result","text":""}`

	clineAPIFailure = `{"type":"task_started","taskId":"1760501487000"}
{"ts":1760501487001,"type":"say","say":"task","text":"What is 6 times 7?"}
{"ts":1760501487002,"type":"say","say":"api_req_started","text":"{\"request\":\"<task>…</task>\"}"}
{"ts":1760501487003,"type":"say","say":"error_retry","text":"{\"attempt\":1,\"maxAttempts\":3,\"delaySec\":2}"}
{"ts":1760501487004,"type":"ask","ask":"api_req_failed","text":"500 Internal Server Error"}
{"type":"error","message":"500 Internal Server Error"}`
)

// pretty re-indents every line of a compact transcript over several lines.
func pretty(t testing.TB, s string) [][]byte {
	var out [][]byte
	for _, l := range strings.Split(s, "\n") {
		var buf bytes.Buffer
		if err := json.Indent(&buf, []byte(l), "", "  "); err != nil {
			t.Fatal(err)
		}
		out = append(out, lines(buf.String())...)
	}
	return out
}

// pieces cuts every line into n-byte pieces, as the runner delivers a line longer
// than its limit.
func pieces(ls [][]byte, n int) [][]byte {
	var out [][]byte
	for _, l := range ls {
		for len(l) > n {
			out = append(out, l[:n])
			l = l[n:]
		}
		out = append(out, l)
	}
	return out
}

func TestClineStream(t *testing.T) {
	successTypes := []activity.Type{activity.Preamble, activity.Preamble, activity.Usage, activity.Thought,
		activity.Message, activity.ToolUse, activity.ToolResult, activity.ToolUse, activity.Preamble,
		activity.Message, activity.Message}
	tests := []struct {
		name       string
		in         func(t testing.TB) [][]byte
		exitCode   int
		wantTypes  []activity.Type
		wantAnswer string
		wantErr    []error
		wantInErr  string
	}{
		{name: "one object per line", in: func(testing.TB) [][]byte { return lines(clineSuccess) },
			wantTypes: successTypes, wantAnswer: "The answer is 42."},
		{name: "pretty-printed objects", in: func(t testing.TB) [][]byte { return pretty(t, clineSuccess) },
			wantTypes: successTypes, wantAnswer: "The answer is 42."},
		{name: "lines delivered in pieces", in: func(testing.TB) [][]byte { return pieces(lines(clineSuccess), 7) },
			wantTypes: successTypes, wantAnswer: "The answer is 42."},
		{name: "two objects on a line and a stray text line", in: func(testing.TB) [][]byte {
			return lines(`Warning: a newer version is available
{"type":"task_started","taskId":"1"}{"ts":2,"type":"say","say":"completion_result","text":"done"}`)
		}, wantTypes: []activity.Type{activity.Message, activity.Preamble, activity.Message}, wantAnswer: "done"},
		{name: "later releases' run_result", in: func(testing.TB) [][]byte {
			return lines(`{"type":"run_result","text":"forty-two"}`)
		}, wantTypes: []activity.Type{activity.Message}, wantAnswer: "forty-two"},
		{name: "model API failure", in: func(testing.TB) [][]byte { return lines(clineAPIFailure) }, exitCode: 1,
			wantTypes: []activity.Type{activity.Preamble, activity.Preamble, activity.Preamble, activity.Error,
				activity.Error, activity.Error},
			wantErr: []error{ErrExit, ErrModelAPI}, wantInErr: "500 Internal Server Error"},
		{name: "clean exit without completion_result", in: func(testing.TB) [][]byte {
			return lines(strings.Join(strings.Split(clineSuccess, "\n")[:5], "\n"))
		}, wantErr: []error{ErrAgent}, wantInErr: "I'll check the files first."},
		{name: "failure exit with an answer", in: func(testing.TB) [][]byte { return lines(clineSuccess) },
			exitCode: 2, wantErr: []error{ErrExit}, wantInErr: "status 2"},
		{name: "malformed object, then recovery", in: func(testing.TB) [][]byte {
			return lines(`{"type":"say", oops}
{"ts":3,"type":"say","say":"completion_result","text":"still fine"}`)
		}, wantTypes: []activity.Type{activity.Error, activity.Message}, wantAnswer: "still fine"},
		{name: "output ends inside an object", in: func(testing.TB) [][]byte {
			return lines(`{"ts":3,"type":"say","say":"completion_result","text":"x"}
{"ts":4,"type":"say",`)
		}, wantTypes: []activity.Type{activity.Message, activity.Error}, wantAnswer: "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newClineStream()
			events := feed(s, tt.in(t))
			events.validate(t)
			if tt.wantTypes != nil && !slices.Equal(events.types(), tt.wantTypes) {
				t.Errorf("event types\n got %v\nwant %v\nevents %+v", events.types(), tt.wantTypes, events)
			}
			res, err := s.result(tt.exitCode, nil)
			if tt.wantErr != nil {
				checkError(t, err, tt.wantErr, tt.wantInErr)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Text != tt.wantAnswer {
				t.Errorf("answer %q, want %q", res.Text, tt.wantAnswer)
			}
		})
	}
}

func TestClineStreamUsageAndSession(t *testing.T) {
	s := newClineStream()
	events := feed(s, lines(clineSuccess))
	res, err := s.result(0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Usage{InputTokens: 1215, OutputTokens: 80, CostUSD: 0.0042}); res.Usage != want {
		t.Errorf("usage %+v, want %+v", res.Usage, want)
	}
	if res.SessionID != "1760501486000" {
		t.Errorf("session %q, want the task id", res.SessionID)
	}
	for _, e := range events {
		if e.Data == nil {
			t.Errorf("%s event %q lost cline's original message", e.Type, e.Text)
		}
	}
	if got := events.texts(activity.ToolUse); !slices.Equal(got, []string{"command: ls", "readFile README.md"}) {
		t.Errorf("tool_use texts %q", got)
	}
	if got := events.texts(activity.Preamble)[1]; strings.Contains(got, "6 times 7") {
		t.Errorf("the task echo repeats the prompt: %q", got)
	}
}

func TestClineStreamSkipsARunawayObject(t *testing.T) {
	s := newClineStream()
	s.max = 1 << 10
	big := fmt.Sprintf(`{"ts":1,"type":"say","say":"text","text":"%s"}`, strings.Repeat("a", 5<<10))
	in := pieces(lines(big+"\n"+`{"ts":2,"type":"say","say":"completion_result","text":"ok"}`), 300)
	var events eventLog
	for _, l := range in {
		s.line(l, events.emit)
		if len(s.acc) > s.max {
			t.Fatalf("buffered %d bytes, limit %d", len(s.acc), s.max)
		}
	}
	if want := []activity.Type{activity.Error, activity.Message}; !slices.Equal(events.types(), want) {
		t.Fatalf("types %v, want %v", events.types(), want)
	}
	if res, err := s.result(0, nil); err != nil || res.Text != "ok" {
		t.Errorf("after the runaway object: %q, %v", res.Text, err)
	}
}

func TestClineExecutorWithFakeCline(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		step       *fakeagent.Step
		pretty     bool
		prompt     string
		inactivity time.Duration
		wantAnswer string
		wantErr    []error
	}{
		{name: "answer", prompt: "what is 6 times 7?", wantAnswer: fakeagent.DefaultAnswer},
		{name: "verdict", prompt: "reply with a verdict", wantAnswer: fakeagent.DefaultVerdict},
		{name: "tool call, pretty-printed", step: &fakeagent.Step{Tool: true, Answer: "42"}, pretty: true, wantAnswer: "42"},
		{name: "flood", step: &fakeagent.Step{Behaviour: "flood:300000", Answer: "after the flood"}, wantAnswer: "after the flood"},
		{name: "model API failure", step: &fakeagent.Step{Behaviour: "api-error"}, wantErr: []error{ErrExit, ErrModelAPI}},
		{name: "crash", step: &fakeagent.Step{Behaviour: "crash"}, wantErr: []error{ErrExit}},
		{name: "zero exit without completion", step: &fakeagent.Step{Behaviour: "hang"}, inactivity: 500 * time.Millisecond,
			wantErr: []error{ErrInactivity}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := newFakeAgents(t, "cline")
			if tt.step != nil {
				fake.script(t, *tt.step)
			}
			if tt.pretty {
				fake.Env = append(fake.Env, fakeagent.PrettyEnv+"=1")
			}
			prompt := cmp.Or(tt.prompt, "do the task")
			res, events, err := runExecutor(t, Spec{Executor: "cline", Model: "gpt-4.1", InactivityTimeout: tt.inactivity}, fake.request(prompt))
			if tt.wantErr != nil {
				checkError(t, err, tt.wantErr)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Text != tt.wantAnswer {
				t.Errorf("answer %q, want %q", res.Text, tt.wantAnswer)
			}
			if res.SessionID == "" || res.Usage.InputTokens == 0 {
				t.Errorf("session %q usage %+v: the task id or the usage was lost", res.SessionID, res.Usage)
			}
			if got := events.texts(activity.Result); len(got) != 1 || got[0] != tt.wantAnswer {
				t.Errorf("result events %q", got)
			}
			recs := fake.records(t)
			if len(recs) != 1 || recs[0].Prompt != prompt {
				t.Fatalf("cline got %+v, want the prompt on stdin", recs)
			}
			if !slices.Equal(recs[0].Args, []string{"-y", "--json", "-m", "gpt-4.1"}) {
				t.Errorf("args %q", recs[0].Args)
			}
		})
	}
}

func TestClineRefusesAnEmptyPrompt(t *testing.T) {
	_, _, err := runExecutor(t, Spec{Executor: "cline"}, Request{Prompt: " \n"})
	checkError(t, err, []error{ErrAgent}, "empty")
}

func FuzzClineStream(f *testing.F) {
	f.Add([]byte(clineSuccess), 0)
	f.Add([]byte(clineAPIFailure), 7)
	f.Add([]byte(`{"a":"\"}{"}{"b":[1,{"c":"\\"}]}`), 3)
	f.Add([]byte("[[[[[[\n]]]]]]\n{\"type\":\"say\",\"say\":\"completion_result\",\"text\":5}"), 2)
	f.Fuzz(func(t *testing.T, data []byte, cut int) {
		s := newClineStream()
		s.max = 256
		var events eventLog
		for _, l := range bytes.Split(data, []byte("\n")) {
			for _, p := range pieces([][]byte{l}, max(cut, 1)) {
				s.line(p, events.emit)
				if len(s.acc) > s.max {
					t.Fatalf("buffered %d bytes over the %d limit", len(s.acc), s.max)
				}
			}
		}
		s.end(events.emit)
		events.validate(t)
		res, err := s.result(0, nil)
		if err == nil && !s.haveAnswer {
			t.Fatalf("success %+v without a completion_result", res)
		}
	})
}

func BenchmarkClineStream(b *testing.B) {
	benchParser(b, func() streamParser { return newClineStream() }, lines(strings.TrimSuffix(strings.Repeat(clineSuccess+"\n", 100), "\n")))
}
