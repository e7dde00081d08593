package executor

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/oneshot-run/oneshot/internal/activity"
)

func newClaudeParser() streamParser { return &claudeStream{} }

func TestClaudeStream(t *testing.T) {
	runStreamCases(t, newClaudeParser, []streamCase{
		{
			fixture: "claude-simple",
			seq:     "preamble thought*3 message usage result",
			answer:  "The answer is 42.",
			usage:   Usage{InputTokens: 1674, OutputTokens: 25, CostUSD: 0.008995},
			session: "16d6078e-cede-43e0-9657-97e99a8dd754",
		},
		{
			fixture: "claude-tool",
			seq:     "preamble thought*3 message tool_use tool_result thought*3 message usage result",
			answer:  "The answer is 42.",
			usage:   Usage{InputTokens: 3492, OutputTokens: 73, CostUSD: 0.019284999999999997},
			session: "d89f92ce-cebe-4451-937c-ec3ff3e39530",
		},
		{
			fixture: "claude-auditor",
			seq:     "preamble thought*3 message usage result",
			answer:  `{"verdict": "DONE", "feedback": "ok"}`,
			usage:   Usage{InputTokens: 1715, OutputTokens: 29, CostUSD: 0.0093},
		},
		{
			fixture: "claude-argv-prompt-open-stdin",
			answer:  "The answer is 42.",
			usage:   Usage{InputTokens: 1674, OutputTokens: 25, CostUSD: 0.008995},
		},
		{
			// --output-format json prints the stream's result object alone.
			fixture: "claude-json",
			seq:     "usage result",
			answer:  "The answer is 42.",
			usage:   Usage{InputTokens: 3492, OutputTokens: 73, CostUSD: 0.019284999999999997},
		},
		{
			fixture:   "claude-error400",
			seq:       "preamble error usage error",
			session:   "7570ec90-1fc3-4f23-a06b-c29fac617d42",
			kind:      "model_api",
			alsoExit:  true,
			errSubstr: []string{"HTTP 400", "API Error: 400 messages: fake invalid request", "exit status 1", "rejected the request"},
		},
		{
			// Ten retries over three minutes, then a "success" result with is_error true.
			fixture:   "claude-error500",
			seq:       "preamble error*11 usage error",
			kind:      "model_api",
			alsoExit:  true,
			errSubstr: []string{"HTTP 500", "Internal server error", "failed on its side"},
		},
		{
			fixture:   "claude-error429",
			seq:       "preamble error*11 usage error",
			kind:      "model_api",
			alsoExit:  true,
			errSubstr: []string{"HTTP 429", "rate limiting"},
		},
		{
			fixture:   "claude-stall-timeout",
			seq:       "preamble error*2 usage error",
			kind:      "model_api",
			alsoExit:  true,
			errSubstr: []string{"Request timed out", "did not answer in time"},
		},
		{
			fixture:   "claude-json-error400",
			seq:       "usage error",
			kind:      "model_api",
			errSubstr: []string{"HTTP 400"},
		},
		{
			// Killed by the capture's time limit after printing only init.
			fixture:   "claude-stall",
			seq:       "preamble",
			session:   "a0e53484-e403-4cba-bf8e-38358c75ca01",
			kind:      "exit",
			errSubstr: []string{"without a result", "exit status 124"},
		},
		{
			fixture:   "claude-root-refusal",
			seq:       "",
			kind:      "exit",
			errSubstr: []string{"refused to start as root", "--dangerously-skip-permissions cannot be used with root/sudo privileges", "IS_SANDBOX=1", "non-root user"},
		},
		{
			// Text format: the answer is a bare line, which is not stream-json.
			fixture:   "claude-text",
			seq:       "message",
			kind:      "agent",
			errSubstr: []string{"without a result", "not stream-json", "--output-format"},
		},
		{
			fixture:   "claude-text-error400",
			seq:       "message",
			kind:      "exit",
			errSubstr: []string{"exit status 1"},
		},
		{
			// A result arrived, but the exit status says the run failed: it did.
			fixture:   "claude-simple",
			rc:        intp(1),
			seq:       "preamble thought*3 message usage result",
			usage:     Usage{InputTokens: 1674, OutputTokens: 25, CostUSD: 0.008995},
			kind:      "exit",
			errSubstr: []string{"reported a result but exited with status 1"},
		},
	})
}

func TestClaudeEventText(t *testing.T) {
	events, _, _, _ := replay(&claudeStream{}, loadFixture(t, "claude-tool"), 0)
	for typ, want := range map[activity.Type][]string{
		activity.Preamble:   {"claude session d89f92ce-cebe-4451-937c-ec3ff3e39530, model claude-opus-4-8[1m], Claude Code 2.1.197"},
		activity.ToolUse:    {"Bash: ls"},
		activity.ToolResult: {"Bash returned: README.md"},
		activity.Message:    {"I'll list the files first.", "The answer is 42."},
		activity.Usage:      {"tokens: 3492 in, 73 out, cost $0.0193"},
	} {
		if got := events.texts(typ); !slices.Equal(got, want) {
			t.Errorf("%s texts %q, want %q", typ, got, want)
		}
	}
	if th := events.texts(activity.Thought); len(th) != 6 || th[0] != "thinking (~8 tokens)" || th[2] != "The user wants a short answer; I will look at the files first." {
		t.Errorf("thoughts %q", th)
	}
	for _, e := range events {
		if len(e.Data) == 0 || e.Data[0] != '{' {
			t.Errorf("%s event without the original JSON: %q", e.Type, e.Data)
		}
	}
}

func TestClaudeAPIRetryText(t *testing.T) {
	events, _, _, _ := replay(&claudeStream{}, loadFixture(t, "claude-error500"), 1)
	if got := events[1].Text; got != "model API retry 1/10: server_error (HTTP 500), next try in 0.5s" {
		t.Errorf("first retry: %q", got)
	}
	events, _, _, _ = replay(&claudeStream{}, loadFixture(t, "claude-stall-timeout"), 1)
	if got := events[1].Text; !strings.HasPrefix(got, "model API retry 1/1: unknown (no HTTP status") {
		t.Errorf("timeout retry: %q", got)
	}
	if got := events[2].Text; got != "Request timed out" || events[2].Type != activity.Error {
		t.Errorf("synthetic assistant message: %s %q", events[2].Type, got)
	}
}

func TestClaudeStream_StoppedByItself(t *testing.T) {
	p := &claudeStream{}
	events := feed(p, lines(`{"type":"result","subtype":"error_max_turns","is_error":true,"num_turns":3,"session_id":"s1","total_cost_usd":0.5,"usage":{"input_tokens":10,"cache_read_input_tokens":90,"cache_creation_input_tokens":5,"output_tokens":7},"errors":["reached max turns"]}`))
	res, err := p.result(1, nil)
	if Kind(err) != "exit" || !errors.Is(err, ErrAgent) || !strings.Contains(err.Error(), "error_max_turns: reached max turns") {
		t.Fatalf("err = %v (kind %s)", err, Kind(err))
	}
	if res.Usage != (Usage{InputTokens: 105, OutputTokens: 7, CostUSD: 0.5}) || res.SessionID != "s1" {
		t.Errorf("result %+v", res)
	}
	if typeSeq(events) != "usage error" {
		t.Errorf("events %s", typeSeq(events))
	}
}

func TestClaudeStream_UnknownEventsAreKept(t *testing.T) {
	events := feed(&claudeStream{}, lines(`{"type":"system","subtype":"compact_boundary","session_id":"s"}
{"type":"stream_event","event":{"type":"content_block_delta"}}
{"type":"assistant","message":{"content":[{"type":"server_tool_use","id":"x","name":"web_search","input":{"query":"go"}},{"type":"image"}]}}
{"type":"user","message":{"role":"user","content":"a string content"}}
{"type":"user","message":{"content":[{"type":"tool_result","tool_use_id":"x","content":[{"type":"text","text":"found"}],"is_error":true}]}}
[1,2]`))
	if got := typeSeq(events); got != "preamble message tool_use message preamble tool_result message" {
		t.Fatalf("events %s", got)
	}
	if events[4].Text != "a string content" || events[5].Text != "web_search failed: found" || events[2].Text != "web_search: go" {
		t.Errorf("texts %q %q %q", events[2].Text, events[4].Text, events[5].Text)
	}
	for i, e := range events {
		if e.Data == nil {
			t.Errorf("event %d lost its data", i)
		}
	}
}

func TestClaudeCommand(t *testing.T) {
	argv, env := claudeCommand(Spec{Model: "opus", ExtraArgs: []string{"--max-turns", "5"}}, false)
	want := []string{"claude", "-p", "--output-format", "stream-json", "--verbose", "--dangerously-skip-permissions", "--model", "opus", "--max-turns", "5"}
	if !slices.Equal(argv, want) {
		t.Errorf("argv %q", argv)
	}
	if len(env) != 0 {
		t.Errorf("env %q for a non-root user", env)
	}
	if argv, env = claudeCommand(Spec{}, true); !slices.Equal(env, []string{"IS_SANDBOX=1"}) || slices.Contains(argv, "--model") {
		t.Errorf("as root: argv %q env %q", argv, env)
	}
}

func FuzzClaudeStream(f *testing.F) { fuzzParser(f, "claude", newClaudeParser) }

func BenchmarkClaudeStream(b *testing.B) {
	benchParser(b, newClaudeParser, loadFixture(b, "claude-tool").stdout)
}
