package fakeagent

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// codexPersona plays Codex CLI 0.171.0's `codex exec`, as captured in
// internal/executor/testdata/streams/codex-*: with --json, JSONL events (thread.started,
// turn.started, item.started/item.completed for reasoning, command_execution and
// agent_message, turn.completed with usage); without it, only the final message on
// stdout and a transcript on stderr. The prompt is read from stdin when the prompt
// argument is "-" or missing. Like the real one it rejects unknown options the way
// clap does (status 2; --full-auto no longer exists), refuses to run outside a git
// repository unless --skip-git-repo-check or the sandbox bypass is given, warns (an
// error item, not fatal) about a model it has no metadata for, and when the model API
// fails it prints "Reconnecting... n/5" errors, a final error and turn.failed, exit 1.
func codexPersona(e *Env, step Step) int {
	if len(e.Args) == 0 || (e.Args[0] != "exec" && e.Args[0] != "e") {
		e.errorf("Error: stdin is not a terminal\n")
		return 1
	}
	opts, bad := parseCodexArgs(e.Args[1:])
	if bad != "" {
		e.errorf("error: unexpected argument '%s' found\n\n", bad)
		e.errorf("  tip: to pass '%s' as a value, use '-- %s'\n\n", bad, bad)
		e.errorf("Usage: codex exec [OPTIONS] [PROMPT]\n       codex exec [OPTIONS] <COMMAND> [ARGS]\n\n")
		e.errorf("For more information, try '--help'.\n")
		return 2
	}
	if !opts.skipGitCheck && !opts.bypass && !insideGitRepo(e.Dir) {
		e.errorf("Not inside a trusted directory and --skip-git-repo-check was not specified.\n")
		return 1
	}
	switch {
	case opts.prompt != "" && opts.prompt != "-":
		if e.StdinPiped && strings.TrimSpace(e.Prompt) != "" {
			e.errorf("Reading additional input from stdin...\n")
			e.usePrompt(opts.prompt + "\n\n" + e.Prompt)
		} else {
			e.usePrompt(opts.prompt)
		}
	case strings.TrimSpace(e.Prompt) == "":
		e.errorf("No prompt provided via stdin.\n")
		return 1
	}
	model := opts.model
	if model == "" {
		model = "gpt-5.5"
	}
	f := &codexFormat{json: opts.json, model: model, thread: e.sessionID(), bypass: opts.bypass}
	return e.play(step, f)
}

type codexOptions struct {
	json, skipGitCheck, bypass bool
	model, prompt              string
}

// parseCodexArgs parses `codex exec` options and returns the first one clap would reject.
func parseCodexArgs(argv []string) (codexOptions, string) {
	var o codexOptions
	withValue := map[string]bool{
		"-m": true, "--model": true, "-s": true, "--sandbox": true, "-c": true, "--config": true,
		"-C": true, "--cd": true, "-p": true, "--profile": true, "-o": true, "--output-last-message": true,
		"-i": true, "--image": true, "--color": true, "--output-schema": true, "--add-dir": true,
		"--local-provider": true,
	}
	flags := map[string]bool{
		"--json": true, "--skip-git-repo-check": true, "--dangerously-bypass-approvals-and-sandbox": true,
		"--oss": true, "--ephemeral": true, "--include-plan-tool": true,
	}
	for i := 0; i < len(argv); i++ {
		arg := argv[i]
		name, value, hasValue := strings.Cut(arg, "=")
		switch {
		case arg == "-" || !strings.HasPrefix(arg, "-"):
			if o.prompt != "" {
				return o, arg
			}
			o.prompt = arg
		case withValue[name]:
			if !hasValue {
				if i+1 >= len(argv) {
					return o, arg
				}
				i++
				value = argv[i]
			}
			if name == "-m" || name == "--model" {
				o.model = value
			}
		case flags[name] && !hasValue:
			switch name {
			case "--json":
				o.json = true
			case "--skip-git-repo-check":
				o.skipGitCheck = true
			case "--dangerously-bypass-approvals-and-sandbox":
				o.bypass = true
			}
		default:
			return o, arg
		}
	}
	return o, ""
}

// insideGitRepo reports whether dir or one of its parents holds .git.
func insideGitRepo(dir string) bool {
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, ".git")); err == nil {
			return true
		}
		if parent := filepath.Dir(d); parent == d {
			return false
		}
	}
}

// codexFormat prints `codex exec --json` events, or the plain transcript.
type codexFormat struct {
	json   bool
	model  string
	thread string
	bypass bool
	item   int
	input  int64
	output int64
}

func (f *codexFormat) nextItem() string {
	id := fmt.Sprintf("item_%d", f.item)
	f.item++
	return id
}

func (f *codexFormat) start(e *Env) {
	if !f.json {
		sandbox := "workspace-write"
		if f.bypass {
			sandbox = "danger-full-access"
		}
		e.errorf("OpenAI Codex v0.171.0\n--------\nworkdir: %s\nmodel: %s\nprovider: openai\napproval: never\nsandbox: %s\n", e.Dir, f.model, sandbox)
		e.errorf("reasoning effort: none\nreasoning summaries: none\nsession id: %s\n--------\nuser\n%s\n\n", f.thread, e.Prompt)
		return
	}
	e.jsonLine(map[string]any{"type": "thread.started", "thread_id": f.thread})
	if strings.HasSuffix(f.model, "-codex") {
		e.jsonLine(map[string]any{"type": "item.completed", "item": map[string]any{"id": f.nextItem(), "type": "error",
			"message": "Model metadata for `" + f.model + "` not found. Defaulting to fallback metadata; this can degrade performance and cause issues."}})
	}
	e.jsonLine(map[string]any{"type": "turn.started"})
}

func (f *codexFormat) tool(e *Env) {
	f.input += 15000
	f.output += 45
	listing := listDir(e.Dir)
	if listing != "" {
		listing += "\n"
	}
	const command = "/bin/bash -lc ls"
	if !f.json {
		e.errorf("**Listing files**\n\nI will list the files first.\nexec\n%s in %s\n succeeded in 0ms:\n%s\n", command, e.Dir, listing)
		return
	}
	e.jsonLine(map[string]any{"type": "item.completed", "item": map[string]any{"id": f.nextItem(), "type": "reasoning",
		"text": "**Listing files**\n\nI will list the files first."}})
	id := f.nextItem()
	e.jsonLine(map[string]any{"type": "item.started", "item": map[string]any{"id": id, "type": "command_execution",
		"command": command, "aggregated_output": "", "exit_code": nil, "status": "in_progress"}})
	e.jsonLine(map[string]any{"type": "item.completed", "item": map[string]any{"id": id, "type": "command_execution",
		"command": command, "aggregated_output": listing, "exit_code": 0, "status": "completed"}})
}

func (f *codexFormat) flood(e *Env, n int) int {
	text := "**Thinking**\n\n" + strings.Repeat("considering ", min(max(n/12, 1), 2000))
	if !f.json {
		e.errorf("%s\n", text)
		return len(text) + 1
	}
	return e.jsonLine(map[string]any{"type": "item.completed", "item": map[string]any{"id": f.nextItem(), "type": "reasoning", "text": text}})
}

func (f *codexFormat) answer(e *Env, text string) {
	f.input += 15000 + int64(len(e.Prompt)/4)
	f.output += 26 + int64(len(text)/4)
	if !f.json {
		e.errorf("codex\n%s\ntokens used\n%d\n", text, f.input+f.output)
		e.printf("%s\n", text)
		return
	}
	e.jsonLine(map[string]any{"type": "item.completed", "item": map[string]any{"id": f.nextItem(), "type": "agent_message", "text": text}})
	e.jsonLine(map[string]any{"type": "turn.completed", "usage": map[string]any{
		"input_tokens": f.input, "cached_input_tokens": 0, "cache_write_input_tokens": 0,
		"output_tokens": f.output, "reasoning_output_tokens": 0,
	}})
}

// apiError reproduces a model API answering 500: five stream reconnects, a final
// error and turn.failed, exit status 1 (without the real backoff delays).
func (f *codexFormat) apiError(e *Env) int {
	const msg = "We’re currently experiencing high demand, which may cause temporary errors."
	if !f.json {
		e.errorf("ERROR: %s\n", msg)
		return 1
	}
	for i := 1; i <= 5; i++ {
		e.jsonLine(map[string]any{"type": "error", "message": fmt.Sprintf("Reconnecting... %d/5 (%s)", i, msg)})
	}
	e.jsonLine(map[string]any{"type": "error", "message": msg})
	e.jsonLine(map[string]any{"type": "turn.failed", "error": map[string]any{"message": msg}})
	return 1
}
