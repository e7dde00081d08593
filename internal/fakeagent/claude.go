package fakeagent

import (
	"fmt"
	"os"
	"sort"
	"strings"
)

// RootEnv makes a persona believe it runs as root ("1") or not ("0") whatever its real
// user, so tests can exercise Claude's refusal to skip permissions as root.
const RootEnv = "FAKEAGENT_ROOT"

// claudePersona plays Claude Code 2.1.197 in print mode (-p), as captured in
// internal/executor/testdata/streams/claude-*: with --output-format stream-json (which
// requires --verbose) one JSON object per line: system/init, system/thinking_tokens,
// one assistant line per content block (thinking, text, tool_use), user lines with
// tool results, and a final result carrying usage and total_cost_usd. With json, only
// that result; with text, only the answer. The prompt comes from stdin, or from the
// last positional argument. As root it refuses --dangerously-skip-permissions unless
// IS_SANDBOX=1. When the model API fails it retries (api_retry lines), makes up an
// assistant message with the error and reports a result with subtype "success" but
// is_error true, then exits 1.
func claudePersona(e *Env, step Step) int {
	args, bad := parseClaudeArgs(e.Args)
	if bad != "" {
		e.errorf("error: unknown option '%s'\n", bad)
		return 1
	}
	if !args.print {
		e.errorf("fakeagent: claude without -p would open its interactive session; use -p\n")
		return 1
	}
	if args.skipPermissions && isRoot(e) && e.Getenv("IS_SANDBOX") != "1" {
		e.errorf("--dangerously-skip-permissions cannot be used with root/sudo privileges for security reasons\n")
		return 1
	}
	switch args.format {
	case "text", "json", "stream-json":
	default:
		e.errorf("Error: Invalid output format \"%s\". Valid formats are: text, json, stream-json\n", args.format)
		return 1
	}
	if args.format == "stream-json" && !args.verbose {
		e.errorf("Error: When using --print, --output-format=stream-json requires --verbose\n")
		return 1
	}
	switch {
	case args.prompt != "" && strings.TrimSpace(e.Prompt) != "":
		e.usePrompt(e.Prompt + "\n\n" + args.prompt)
	case args.prompt != "":
		e.usePrompt(args.prompt)
	case strings.TrimSpace(e.Prompt) == "":
		e.errorf("Error: Input must be provided either through stdin or as a prompt argument when using --print\n")
		return 1
	}
	f := &claudeFormat{format: args.format, model: args.model, session: e.sessionID()}
	return e.play(step, f)
}

type claudeOptions struct {
	print, verbose, skipPermissions bool
	format, model, prompt           string
}

// parseClaudeArgs parses the options the persona knows and returns the first unknown one.
func parseClaudeArgs(argv []string) (claudeOptions, string) {
	a := claudeOptions{format: "text"}
	withValue := map[string]bool{
		"--output-format": true, "--model": true, "--max-turns": true, "--input-format": true,
		"--append-system-prompt": true, "--system-prompt": true, "--permission-mode": true,
		"--allowedTools": true, "--allowed-tools": true, "--disallowedTools": true, "--disallowed-tools": true,
		"--mcp-config": true, "--settings": true, "--add-dir": true, "--fallback-model": true,
		"--resume": true, "-r": true, "--session-id": true, "--max-budget-usd": true, "--agents": true,
	}
	flags := map[string]bool{
		"-p": true, "--print": true, "--verbose": true, "--dangerously-skip-permissions": true,
		"--include-partial-messages": true, "--continue": true, "-c": true, "--debug": true,
		"--strict-mcp-config": true, "--no-session-persistence": true,
	}
	for i := 0; i < len(argv); i++ {
		arg := argv[i]
		name, value, hasValue := strings.Cut(arg, "=")
		switch {
		case !strings.HasPrefix(arg, "-"):
			a.prompt = arg
		case withValue[name]:
			if !hasValue {
				if i+1 >= len(argv) {
					return a, arg
				}
				i++
				value = argv[i]
			}
			switch name {
			case "--output-format":
				a.format = value
			case "--model":
				a.model = value
			}
		case flags[name] && !hasValue:
			switch name {
			case "-p", "--print":
				a.print = true
			case "--verbose":
				a.verbose = true
			case "--dangerously-skip-permissions":
				a.skipPermissions = true
			}
		default:
			return a, arg
		}
	}
	return a, ""
}

// isRoot is the persona's idea of whether it runs as root.
func isRoot(e *Env) bool {
	switch e.Getenv(RootEnv) {
	case "1":
		return true
	case "0":
		return false
	}
	return os.Geteuid() == 0
}

// claudeFormat prints Claude Code's stream-json (or its json/text results).
type claudeFormat struct {
	format  string
	model   string
	session string

	msg      int   // assistant message counter, for ids
	turns    int   // model calls so far
	inTokens int64 // input tokens of all calls
	out      int64 // output tokens of all calls
	seq      int
}

func (f *claudeFormat) stream() bool { return f.format == "stream-json" }

func (f *claudeFormat) uuid() string {
	f.seq++
	return fmt.Sprintf("c1a0de00-0000-4000-8000-%012x", f.seq)
}

// modelName is what the CLI reports: the 1M-context variant unless one was chosen.
func (f *claudeFormat) modelName() string {
	if f.model != "" {
		return f.model
	}
	return "claude-opus-4-8[1m]"
}

func (f *claudeFormat) start(e *Env) {
	if !f.stream() {
		return
	}
	e.jsonLine(map[string]any{
		"type": "system", "subtype": "init", "cwd": e.Dir, "session_id": f.session,
		"tools":               []string{"Task", "Bash", "Edit", "Read", "Write", "WebFetch", "WebSearch"},
		"mcp_servers":         []any{},
		"model":               f.modelName(),
		"permissionMode":      "bypassPermissions",
		"slash_commands":      []string{"review", "compact", "context"},
		"apiKeySource":        "ANTHROPIC_API_KEY",
		"claude_code_version": "2.1.197",
		"output_style":        "default",
		"agents":              []string{"general-purpose", "Explore", "Plan"},
		"skills":              []string{},
		"plugins":             []any{},
		"uuid":                f.uuid(),
		"fast_mode_state":     "off",
	})
}

// call starts a model call: thinking tokens and a thinking block.
func (f *claudeFormat) call(e *Env, input int64, thinking string) string {
	f.turns++
	f.msg++
	f.inTokens += input
	id := fmt.Sprintf("msg_01fa4e%020x", f.msg)
	if f.stream() {
		for _, n := range []int{7, 14} {
			e.jsonLine(map[string]any{"type": "system", "subtype": "thinking_tokens", "estimated_tokens": n,
				"estimated_tokens_delta": 7, "uuid": f.uuid(), "session_id": f.session})
		}
		f.block(e, id, input, map[string]any{"type": "thinking", "thinking": thinking, "signature": "ZmFrZS1zaWduYXR1cmU="})
	}
	return id
}

// block prints one assistant content block as its own line, as Claude Code does.
func (f *claudeFormat) block(e *Env, id string, input int64, content map[string]any) int {
	if !f.stream() {
		return 0
	}
	return e.jsonLine(map[string]any{
		"type": "assistant",
		"message": map[string]any{
			"id": id, "type": "message", "role": "assistant", "model": strings.TrimSuffix(f.modelName(), "[1m]"),
			"content": []any{content}, "stop_reason": nil, "stop_sequence": nil,
			"usage":              map[string]any{"input_tokens": input, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 1, "service_tier": "standard"},
			"context_management": nil,
		},
		"parent_tool_use_id": nil, "session_id": f.session, "uuid": f.uuid(),
		"request_id": fmt.Sprintf("req_01fa4e%020x", f.msg),
	})
}

func (f *claudeFormat) tool(e *Env) {
	id := f.call(e, 1674+int64(len(e.Prompt)/4), "The user wants a short answer; I will look at the files first.")
	f.out += 48
	f.block(e, id, 1674, map[string]any{"type": "text", "text": "I'll list the files first."})
	toolID := fmt.Sprintf("toolu_01fa4e%016x", f.msg)
	f.block(e, id, 1674, map[string]any{"type": "tool_use", "id": toolID, "name": "Bash",
		"input": map[string]any{"command": "ls", "description": "List the files in the working directory"}})
	listing := listDir(e.Dir)
	if f.stream() {
		e.jsonLine(map[string]any{
			"type": "user",
			"message": map[string]any{"role": "user", "content": []any{map[string]any{
				"tool_use_id": toolID, "type": "tool_result", "content": listing, "is_error": false}}},
			"parent_tool_use_id": nil, "session_id": f.session, "uuid": f.uuid(),
			"timestamp":       isoTime(e.nextTS()),
			"tool_use_result": map[string]any{"stdout": listing, "stderr": "", "interrupted": false, "isImage": false, "noOutputExpected": false},
		})
	}
}

func (f *claudeFormat) flood(e *Env, n int) int {
	if !f.stream() {
		return n // text and json print nothing until the end
	}
	f.msg++
	text := "Working through the task step by step: " + strings.Repeat("checking ", min(max(n/9, 1), 2000))
	return f.block(e, fmt.Sprintf("msg_01fa4e%020x", f.msg), 1674, map[string]any{"type": "thinking", "thinking": text, "signature": "ZmFrZQ=="})
}

func (f *claudeFormat) answer(e *Env, text string) {
	input := 1674 + int64(len(e.Prompt)/4)
	if f.turns > 0 {
		input += 144
	}
	id := f.call(e, input, "The user wants a short answer; I can answer directly.")
	f.out += 24 + int64(len(text)/4)
	f.block(e, id, input, map[string]any{"type": "text", "text": text})
	cost := float64(f.inTokens)*5e-6 + float64(f.out)*25e-6
	result := map[string]any{
		"type": "result", "subtype": "success", "is_error": false, "api_error_status": nil,
		"duration_ms": 263 * f.turns, "duration_api_ms": 155 * f.turns, "num_turns": f.turns,
		"result": text, "stop_reason": "end_turn", "session_id": f.session, "total_cost_usd": cost,
		"usage": map[string]any{
			"input_tokens": f.inTokens, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
			"output_tokens": f.out, "service_tier": "standard",
		},
		"modelUsage": map[string]any{f.modelName(): map[string]any{
			"inputTokens": f.inTokens, "outputTokens": f.out, "cacheReadInputTokens": 0,
			"cacheCreationInputTokens": 0, "webSearchRequests": 0, "costUSD": cost,
			"contextWindow": 1000000, "maxOutputTokens": 64000,
		}},
		"permission_denials": []any{}, "terminal_reason": "completed", "uuid": f.uuid(),
	}
	switch f.format {
	case "text":
		e.printf("%s\n", text)
	default:
		e.jsonLine(result)
	}
}

// apiError reproduces a model API answering 500 to every attempt: ten api_retry lines
// (printed without the real three minutes of backoff), the made-up assistant message,
// the is_error result with subtype "success", exit status 1.
func (f *claudeFormat) apiError(e *Env) int {
	const msg = "API Error: 500 Internal server error. This is a server-side issue, usually temporary — try again in a moment."
	if f.stream() {
		delay := 500.0
		for attempt := 1; attempt <= 10; attempt++ {
			e.jsonLine(map[string]any{"type": "system", "subtype": "api_retry", "attempt": attempt, "max_retries": 10,
				"retry_delay_ms": delay, "error_status": 500, "error": "server_error", "session_id": f.session, "uuid": f.uuid()})
			delay = min(delay*2, 40000)
		}
		e.jsonLine(map[string]any{
			"type": "assistant",
			"message": map[string]any{
				"id": f.uuid(), "container": nil, "model": "<synthetic>", "role": "assistant", "stop_details": nil,
				"stop_reason": "stop_sequence", "stop_sequence": "", "type": "message",
				"usage":              map[string]any{"input_tokens": 0, "output_tokens": 0},
				"content":            []any{map[string]any{"type": "text", "text": msg}},
				"context_management": nil,
			},
			"parent_tool_use_id": nil, "session_id": f.session, "uuid": f.uuid(), "error": "server_error",
		})
	}
	result := map[string]any{
		"type": "result", "subtype": "success", "is_error": true, "api_error_status": 500,
		"duration_ms": 179599, "duration_api_ms": 0, "num_turns": 1, "result": msg,
		"stop_reason": "stop_sequence", "session_id": f.session, "total_cost_usd": 0,
		"usage":      map[string]any{"input_tokens": 0, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 0},
		"modelUsage": map[string]any{}, "permission_denials": []any{}, "terminal_reason": "completed", "uuid": f.uuid(),
	}
	if f.format == "text" {
		e.printf("%s\n", msg)
	} else {
		e.jsonLine(result)
	}
	return 1
}

// listDir is what `ls` prints for dir: the visible names, sorted, one per line.
func listDir(dir string) string {
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, d := range entries {
		if !strings.HasPrefix(d.Name(), ".") {
			names = append(names, d.Name())
		}
	}
	sort.Strings(names)
	return strings.Join(names, "\n")
}
