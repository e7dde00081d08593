package executor

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/oneshot-run/oneshot/internal/activity"
)

func newGeminiParser() streamParser { return &geminiStream{} }

func TestGeminiStream(t *testing.T) {
	runStreamCases(t, newGeminiParser, []streamCase{
		{
			fixture: "gemini-simple",
			seq:     "preamble*2 message usage result",
			answer:  "The answer is 42.",
			usage:   Usage{InputTokens: 393, OutputTokens: 24},
			session: "ac82e1b6-0016-4639-b95c-82a640791092",
		},
		{
			// "I'll list the files first." comes before the tool call: not the answer.
			fixture: "gemini-tool",
			seq:     "preamble*2 message tool_use tool_result message usage result",
			answer:  "The answer is 42.",
			usage:   Usage{InputTokens: 722, OutputTokens: 36},
			session: "d37cfd01-de2e-48f4-a410-6a6f29e801f9",
		},
		{
			fixture: "gemini-stdin",
			seq:     "preamble*2 message tool_use tool_result message usage result",
			answer:  "The answer is 42.",
			usage:   Usage{InputTokens: 725, OutputTokens: 36},
		},
		{
			fixture: "gemini-auditor",
			seq:     "preamble*2 message usage result",
			answer:  `{"verdict": "DONE", "feedback": "ok"}`,
			usage:   Usage{InputTokens: 475, OutputTokens: 24},
		},
		{
			fixture:   "gemini-error400",
			seq:       "preamble*2 usage error",
			session:   "d544b497-6cfc-480f-81de-716cfa972084",
			kind:      "model_api",
			alsoExit:  true,
			errSubstr: []string{"likely HTTP 400", "Request contains an invalid argument. (fake)", "exit status 144", "rejected the request"},
		},
		{
			fixture:   "gemini-error429",
			seq:       "preamble*2 usage error",
			kind:      "model_api",
			alsoExit:  true,
			errSubstr: []string{"likely HTTP 429", "Resource has been exhausted", "rate limiting"},
		},
		{
			fixture:   "gemini-error500",
			seq:       "preamble*2 usage error",
			kind:      "model_api",
			alsoExit:  true,
			errSubstr: []string{"likely HTTP 500", "Internal error encountered.", "exit status 244"},
		},
		{
			// The json format prints nothing on stdout for an API error; the exit status says 400.
			fixture:   "gemini-json-error400",
			seq:       "",
			kind:      "model_api",
			alsoExit:  true,
			errSubstr: []string{"status 144", "HTTP 400", "Request contains an invalid argument"},
		},
		{
			fixture:   "gemini-untrusted",
			kind:      "exit",
			errSubstr: []string{"not a trusted folder", "exit status 55", "GEMINI_CLI_TRUST_WORKSPACE=true", "--skip-trust"},
		},
		{
			fixture:   "gemini-stall",
			seq:       "preamble*2",
			kind:      "exit",
			errSubstr: []string{"exited with status 124", "fetch failed"},
		},
		{
			fixture:   "gemini-text",
			seq:       "message*2",
			kind:      "agent",
			errSubstr: []string{"without a result"},
		},
		{
			fixture:   "gemini-text-error400",
			kind:      "exit",
			errSubstr: []string{"exited with status 1", "An unexpected critical error occurred"},
		},
		{
			fixture: "gemini-json",
			kind:    "agent",
		},
		{
			fixture:   "gemini-simple",
			rc:        intp(1),
			usage:     Usage{InputTokens: 393, OutputTokens: 24},
			kind:      "exit",
			errSubstr: []string{"after reporting a result"},
		},
	})
}

func TestGeminiDeltasAreJoined(t *testing.T) {
	events, stderr, _, _ := replay(&geminiStream{}, loadFixture(t, "gemini-tool"), 0)
	want := []string{
		"preamble: gemini session d37cfd01-de2e-48f4-a410-6a6f29e801f9, model auto",
		`preamble: gemini "user" message received (34 bytes)`,
		"message: I'll list the files first.",
		"tool_use: run_shell_command: ls",
		"tool_result: run_shell_command returned: README.md",
		"message: The answer is 42.",
		"usage: tokens: 722 in, 36 out",
		"result: The answer is 42.",
	}
	if texts := events.typeTexts(); !slices.Equal(texts, want) {
		t.Errorf("events:\n%s\nwant\n%s", strings.Join(texts, "\n"), strings.Join(want, "\n"))
	}
	// The prompt is recorded by the run, not again by its echo.
	if events[1].Data != nil {
		t.Errorf("the echoed prompt was kept: %s", events[1].Data)
	}
	// The joined message keeps the three original delta events.
	var originals []struct {
		Content string `json:"content"`
	}
	if err := json.Unmarshal(events[5].Data, &originals); err != nil || len(originals) != 3 || originals[1].Content != "swer i" {
		t.Errorf("joined message data %s: %v", events[5].Data, err)
	}
	if len(stderr) != 4 || stderr[0].Type != activity.Stderr || !strings.HasPrefix(stderr[1].Text, "YOLO mode is enabled") {
		t.Errorf("stderr events %+v", stderr)
	}
}

func TestGeminiLongDeltaStreamIsEmittedInPieces(t *testing.T) {
	p := &geminiStream{}
	var events eventLog
	chunk := strings.Repeat("x", 1000)
	for range 10 {
		b, _ := json.Marshal(map[string]any{"type": "message", "role": "assistant", "content": chunk, "delta": true})
		p.line(b, events.emit)
	}
	if len(events) == 0 {
		t.Fatal("10 kB of text without a newline was all held back")
	}
	events = append(events, feed(p, lines(`{"type":"message","role":"assistant","content":"done.\n","delta":true}`))...)
	total := 0
	for _, e := range events {
		total += len(e.Text)
	}
	if total != 10*1000+len("done.") {
		t.Errorf("emitted %d bytes of text, want all of it", total)
	}
	events.validate(t)
}

func TestGeminiAnswerWhenTheLastTurnIsSilent(t *testing.T) {
	p := &geminiStream{}
	feed(p, lines(`{"type":"message","role":"assistant","content":"All done: 42.","delta":true}
{"type":"tool_use","tool_name":"write_file","tool_id":"t1","parameters":{"file_path":"a.txt"}}
{"type":"tool_result","tool_id":"t1","status":"error","error":{"type":"io","message":"disk full"}}
{"type":"result","status":"success","stats":{"input_tokens":5,"output_tokens":6}}`))
	res, err := p.result(0, nil)
	if err != nil || res.Text != "All done: 42." || res.Usage != (Usage{InputTokens: 5, OutputTokens: 6}) {
		t.Errorf("result %+v, %v", res, err)
	}
}

func TestGeminiErrorEventsAndStoppedRuns(t *testing.T) {
	p := &geminiStream{}
	events := feed(p, lines(`{"type":"error","severity":"warning","message":"Loop detected"}`))
	if len(events) != 1 || events[0].Type != activity.Error || events[0].Text != "warning: Loop detected" {
		t.Errorf("events %+v", events)
	}
	// With GEMINI_CLI_NO_RELAUNCH=true, SIGTERM ends Gemini with status 0 and no result.
	if _, err := p.result(0, nil); Kind(err) != "agent" || !strings.Contains(err.Error(), "without a result") {
		t.Errorf("err = %v", err)
	}
}

func TestGeminiHTTPStatus(t *testing.T) {
	for _, tc := range []struct {
		exit int
		msg  string
		want int
	}{
		{244, "", 500}, {173, "", 429}, {144, "", 400}, {145, "", 401},
		{1, `[API Error: {"error":{"code":503,"message":"busy"}}]`, 503},
		{1, `{"code": 404}`, 404},
		{1, `"code":12`, 0},
		{55, "", 0}, {124, "", 0}, {0, "", 0},
	} {
		if got := geminiHTTPStatus(tc.exit, tc.msg); got != tc.want {
			t.Errorf("geminiHTTPStatus(%d, %q) = %d, want %d", tc.exit, tc.msg, got, tc.want)
		}
	}
}

func TestGeminiCommand(t *testing.T) {
	argv, env := geminiCommand(Spec{Model: "gemini-3.8-flash", ExtraArgs: []string{"--debug"}})
	if want := []string{"gemini", "--output-format", "stream-json", "--yolo", "-m", "gemini-3.8-flash", "--debug"}; !slices.Equal(argv, want) {
		t.Errorf("argv %q", argv)
	}
	if slices.Contains(argv, "--prompt") || slices.Contains(argv, "-p") {
		t.Errorf("prompt on the command line: %q", argv)
	}
	if !slices.Equal(env, []string{"GEMINI_CLI_TRUST_WORKSPACE=true"}) {
		t.Errorf("env %q", env)
	}
}

func TestBoundedTextKeepsTheEnd(t *testing.T) {
	var bt boundedText
	for range 3 {
		bt.write(strings.Repeat("é", streamAnswerLimit/4))
	}
	bt.write("THE END")
	s := bt.String()
	if len(s) > streamAnswerLimit+64 || !strings.HasSuffix(s, "THE END") || !strings.HasPrefix(s, "…[earlier text dropped] é") {
		t.Errorf("len %d, ends %q, starts %q", len(s), s[len(s)-10:], s[:30])
	}
}

func FuzzGeminiStream(f *testing.F) { fuzzParser(f, "gemini", newGeminiParser) }

func BenchmarkGeminiStream(b *testing.B) {
	benchParser(b, newGeminiParser, loadFixture(b, "gemini-tool").stdout)
}
