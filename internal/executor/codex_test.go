package executor

import (
	"slices"
	"strings"
	"testing"
)

func newCodexParser() streamParser { return &codexStream{} }

func TestCodexStream(t *testing.T) {
	runStreamCases(t, newCodexParser, []streamCase{
		{
			fixture: "codex-simple",
			seq:     "preamble*2 message usage result",
			answer:  "The answer is 42.",
			usage:   Usage{InputTokens: 15106, OutputTokens: 26},
			session: "01a21a8c-22de-7531-907c-6f35632d6ac4",
		},
		{
			fixture: "codex-tool",
			seq:     "preamble*2 thought tool_use tool_result message usage result",
			answer:  "The answer is 42.",
			usage:   Usage{InputTokens: 30430, OutputTokens: 80},
			session: "01a21a8c-274c-7c13-bb92-401faf16e279",
		},
		{
			fixture: "codex-tool-gpt55",
			seq:     "preamble*2 thought tool_use tool_result message usage result",
			answer:  "The answer is 42.",
			usage:   Usage{InputTokens: 14039, OutputTokens: 71},
		},
		{
			fixture: "codex-tool-sandboxed",
			seq:     "preamble*2 thought tool_use tool_result message usage result",
			answer:  "The answer is 42.",
			usage:   Usage{InputTokens: 30800, OutputTokens: 80},
		},
		{
			// The unknown model's metadata warning is an error item, but not a failure.
			fixture: "codex-unknown-model",
			seq:     "preamble error preamble message usage result",
			answer:  "The answer is 42.",
			usage:   Usage{InputTokens: 5270, OutputTokens: 26},
		},
		{
			fixture: "codex-auditor",
			answer:  `{"verdict": "DONE", "feedback": "ok"}`,
			usage:   Usage{InputTokens: 15146, OutputTokens: 30},
		},
		{
			fixture: "codex-no-git",
			answer:  "The answer is 42.",
			usage:   Usage{InputTokens: 15106, OutputTokens: 26},
		},
		{
			fixture:   "codex-error400",
			seq:       "preamble*2 error*2",
			session:   "01a21a8c-60ca-7e51-9c02-5e2bc6f156b8",
			kind:      "model_api",
			alsoExit:  true,
			errSubstr: []string{"turn failed", "Invalid request (fake)", "rejected the request", "exit status 1"},
		},
		{
			fixture:   "codex-error429",
			seq:       "preamble*2 error*7",
			kind:      "model_api",
			alsoExit:  true,
			errSubstr: []string{"429 Too Many Requests", "rate limiting"},
		},
		{
			fixture:   "codex-error500",
			seq:       "preamble*2 error*7",
			kind:      "model_api",
			alsoExit:  true,
			errSubstr: []string{"high demand", "failed on its side"},
		},
		{
			fixture:   "codex-stall-stream-timeout",
			seq:       "preamble*2 error*3",
			kind:      "model_api",
			alsoExit:  true,
			errSubstr: []string{"idle timeout waiting for SSE", "stopped sending"},
		},
		{
			// A model server that never answers: codex prints two lines and waits forever.
			fixture:   "codex-stall",
			seq:       "preamble*2",
			kind:      "exit",
			errSubstr: []string{"exited with status 124"},
		},
		{
			fixture:   "codex-full-auto-flag",
			kind:      "exit",
			errSubstr: []string{"rejected its arguments", "unexpected argument '--full-auto' found", "--full-auto no longer exists"},
		},
		{
			fixture:   "codex-no-git-no-bypass",
			kind:      "exit",
			errSubstr: []string{"outside a git repository", "--skip-git-repo-check"},
		},
		{
			// Without --json: a bare answer on stdout, the transcript on stderr.
			fixture:   "codex-plain",
			seq:       "message",
			kind:      "agent",
			errSubstr: []string{"without a final message"},
		},
		{
			fixture:   "codex-plain-error400",
			kind:      "exit",
			errSubstr: []string{"exited with status 1", `ERROR: {"error": {"message": "Invalid request (fake)"`},
		},
		{
			fixture:   "codex-simple",
			rc:        intp(1),
			usage:     Usage{InputTokens: 15106, OutputTokens: 26},
			kind:      "exit",
			errSubstr: []string{"exited with status 1"},
		},
	})
}

func TestCodexEventText(t *testing.T) {
	events, _, _, _ := replay(&codexStream{}, loadFixture(t, "codex-tool"), 0)
	want := []string{
		"preamble: codex thread 01a21a8c-274c-7c13-bb92-401faf16e279",
		"preamble: codex turn started",
		"thought: **Listing files**\n\nI will list the files first.",
		"tool_use: shell: /bin/bash -lc ls",
		"tool_result: shell exit 0 returned: README.md\n",
		"message: The answer is 42.",
		"usage: tokens: 30430 in, 80 out",
		"result: The answer is 42.",
	}
	if texts := events.typeTexts(); !slices.Equal(texts, want) {
		t.Errorf("texts:\n%q\nwant\n%q", texts, want)
	}
}

func TestCodexOtherItems(t *testing.T) {
	p := &codexStream{}
	events := feed(p, lines(`{"type":"item.completed","item":{"id":"item_1","type":"file_change","changes":[{"path":"a.go","kind":"add"},{"path":"b.go","kind":"update"}],"status":"completed"}}
{"type":"item.started","item":{"id":"item_2","type":"mcp_tool_call","server":"docs","tool":"search","arguments":{"query":"river"},"status":"in_progress"}}
{"type":"item.completed","item":{"id":"item_2","type":"mcp_tool_call","server":"docs","tool":"search","arguments":{"query":"river"},"error":{"message":"offline"},"status":"failed"}}
{"type":"item.started","item":{"id":"item_3","type":"web_search","query":"go fuzzing"}}
{"type":"item.completed","item":{"id":"item_3","type":"web_search","query":"go fuzzing"}}
{"type":"item.updated","item":{"id":"item_4","type":"todo_list","items":[{"text":"read","completed":true},{"text":"write","completed":false}]}}
{"type":"item.completed","item":{"id":"item_4","type":"todo_list","items":[{"text":"read","completed":true},{"text":"write","completed":true}]}}
{"type":"item.started","item":{"id":"item_5","type":"command_execution","command":"false","status":"in_progress"}}
{"type":"item.completed","item":{"id":"item_5","type":"command_execution","command":"false","aggregated_output":"","exit_code":1,"status":"failed"}}
{"type":"item.completed","item":{"id":"item_6","type":"collab_call"}}
{"type":"session.configured"}
{"type":"item.completed","item":{"id":"item_7","type":"agent_message","text":"first"}}
{"type":"item.completed","item":{"id":"item_8","type":"agent_message","text":"second"}}`))
	want := []string{
		"tool_use: edit: add a.go, update b.go",
		"tool_result: edit returned: add a.go, update b.go",
		"tool_use: docs.search: river",
		"tool_result: docs.search failed: offline",
		"tool_use: web search: go fuzzing",
		"tool_result: web search returned: go fuzzing",
		"tool_use: plan: 1 of 2 steps done",
		"tool_result: plan returned: [x] read; [x] write",
		"tool_use: shell: false",
		"tool_result: shell exit 1 failed",
		`message: codex item "collab_call" (not interpreted)`,
		`message: codex "session.configured" event (not interpreted)`,
		"message: first",
		"message: second",
	}
	if got := events.typeTexts(); !slices.Equal(got, want) {
		t.Errorf("events:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Without turn.completed, but with a final message and exit 0: the last message is the answer.
	res, err := p.result(0, nil)
	if err != nil || res.Text != "second" {
		t.Errorf("result %+v, %v", res, err)
	}
}

func TestCodexCommand(t *testing.T) {
	argv := codexCommand(Spec{Model: "gpt-5.5", ExtraArgs: []string{"-c", "x=1"}})
	want := []string{"codex", "exec", "--json", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox", "-m", "gpt-5.5", "-c", "x=1", "-"}
	if !slices.Equal(argv, want) {
		t.Errorf("argv %q", argv)
	}
	if _, err := newCodex(Spec{Executor: "codex", ExtraArgs: []string{"--full-auto"}}); err == nil || !strings.Contains(err.Error(), "--full-auto") {
		t.Errorf("--full-auto accepted: %v", err)
	}
}

func FuzzCodexStream(f *testing.F) { fuzzParser(f, "codex", newCodexParser) }

func BenchmarkCodexStream(b *testing.B) {
	benchParser(b, newCodexParser, loadFixture(b, "codex-tool").stdout)
}
