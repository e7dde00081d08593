package fakeagent

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// geminiPersona plays Gemini CLI 0.61.0 headless, as captured in
// internal/executor/testdata/streams/gemini-*: with --output-format stream-json, init,
// the user's message echoed, assistant text as deltas, tool_use/tool_result, and a
// result with stats; its notices go to stderr. The prompt is stdin, --prompt, or both
// (stdin, a blank line, then --prompt). It refuses to run in a folder it does not
// trust (exit 55) unless GEMINI_CLI_TRUST_WORKSPACE=true or --skip-trust. When the
// model API fails it reports a result with status "error" and exits with the HTTP
// status & 255 (500 → 244).
func geminiPersona(e *Env, step Step) int {
	opts, bad := parseGeminiArgs(e.Args)
	if bad != "" {
		e.errorf("Unknown argument: %s\n", strings.TrimLeft(bad, "-"))
		return 1
	}
	switch opts.format {
	case "text", "json", "stream-json":
	default:
		e.errorf("Invalid values:\n  Argument: output-format, Given: \"%s\", Choices: \"text\", \"json\", \"stream-json\"\n", opts.format)
		return 1
	}
	trusted := opts.skipTrust || e.Getenv("GEMINI_CLI_TRUST_WORKSPACE") == "true"
	if trusted {
		e.errorf("Warning: 256-color support not detected. Using a terminal with at least 256-color support is recommended for a better visual experience.\n")
	}
	for range 2 { // the parent process and the child it relaunches both say it
		if opts.yolo {
			e.errorf("YOLO mode is enabled. All tool calls will be automatically approved.\n")
			if !trusted {
				e.errorf("Approval mode overridden to \"default\" because the current folder is not trusted.\n")
			}
		}
	}
	if !trusted {
		e.errorf("\x1b[31mGemini CLI is not running in a trusted directory. To proceed, either use `--skip-trust`, " +
			"set the `GEMINI_CLI_TRUST_WORKSPACE=true` environment variable, or trust this directory in interactive mode. " +
			"For more details, see https://geminicli.com/docs/cli/trusted-folders/#headless-and-automated-environments\x1b[0m\n")
		return 55
	}
	e.errorf("Ripgrep is not available. Falling back to GrepTool.\n")
	stdin := e.Prompt
	switch {
	case opts.prompt != "" && strings.TrimSpace(stdin) != "":
		e.usePrompt(stdin + "\n\n" + opts.prompt)
	case opts.prompt != "":
		e.usePrompt(opts.prompt)
	case strings.TrimSpace(stdin) == "":
		e.errorf("No input provided via stdin. Input can be provided by piping data into gemini or using the --prompt option.\n")
		return 1
	}
	model := opts.model
	if model == "" {
		model = "auto"
	}
	f := &geminiFormat{format: opts.format, model: model, session: e.sessionID()}
	return e.play(step, f)
}

type geminiOptions struct {
	yolo, skipTrust       bool
	format, model, prompt string
}

// parseGeminiArgs parses the options the persona knows and returns the first unknown one.
func parseGeminiArgs(argv []string) (geminiOptions, string) {
	o := geminiOptions{format: "text"}
	withValue := map[string]bool{
		"-o": true, "--output-format": true, "-m": true, "--model": true, "-p": true, "--prompt": true,
		"--approval-mode": true, "--include-directories": true, "-e": true, "--extensions": true,
		"--allowed-tools": true, "--allowed-mcp-server-names": true,
	}
	flags := map[string]bool{
		"-y": true, "--yolo": true, "--skip-trust": true, "-d": true, "--debug": true,
		"-s": true, "--sandbox": true, "--screen-reader": true,
	}
	for i := 0; i < len(argv); i++ {
		arg := argv[i]
		name, value, hasValue := strings.Cut(arg, "=")
		switch {
		case !strings.HasPrefix(arg, "-"):
			o.prompt = strings.TrimSpace(o.prompt + " " + arg) // positional query words
		case withValue[name]:
			if !hasValue {
				if i+1 >= len(argv) {
					return o, arg
				}
				i++
				value = argv[i]
			}
			switch name {
			case "-o", "--output-format":
				o.format = value
			case "-m", "--model":
				o.model = value
			case "-p", "--prompt":
				o.prompt = value
			case "--approval-mode":
				o.yolo = value == "yolo"
			}
		case flags[name] && !hasValue:
			switch name {
			case "-y", "--yolo":
				o.yolo = true
			case "--skip-trust":
				o.skipTrust = true
			}
		default:
			return o, arg
		}
	}
	return o, ""
}

// geminiFormat prints Gemini CLI's stream-json events (or its json document or text).
type geminiFormat struct {
	format  string
	model   string
	session string

	texts  []string // assistant texts of each turn, for text and json output
	turn   strings.Builder
	input  int64
	output int64
	tools  int
}

func (f *geminiFormat) stream() bool { return f.format == "stream-json" }

func (f *geminiFormat) event(e *Env, typ string, fields map[string]any) int {
	fields["type"] = typ
	fields["timestamp"] = isoTime(e.nextTS())
	return e.jsonLine(orderedEvent(fields))
}

func (f *geminiFormat) start(e *Env) {
	if !f.stream() {
		return
	}
	f.event(e, "init", map[string]any{"session_id": f.session, "model": f.model})
	f.event(e, "message", map[string]any{"role": "user", "content": e.Prompt})
}

// say streams assistant text in deltas of about chunk bytes, as the CLI relays the
// model's chunks.
func (f *geminiFormat) say(e *Env, text string, chunk int) int {
	f.turn.WriteString(text)
	if !f.stream() {
		return len(text)
	}
	n := 0
	for len(text) > 0 {
		k := min(len(text), chunk)
		for k < len(text) && text[k]&0xC0 == 0x80 { // whole runes
			k++
		}
		n += f.event(e, "message", map[string]any{"role": "assistant", "content": text[:k], "delta": true})
		text = text[k:]
	}
	return n
}

func (f *geminiFormat) endTurn() {
	if f.turn.Len() > 0 {
		f.texts = append(f.texts, f.turn.String())
		f.turn.Reset()
	}
}

func (f *geminiFormat) tool(e *Env) {
	f.input += 330
	f.output += 12
	f.tools++
	f.say(e, "I'll list the files first.\n", 64)
	f.endTurn()
	id := fmt.Sprintf("run_shell_command__run_shell_command_%d_0", e.nextTS())
	if f.stream() {
		f.event(e, "tool_use", map[string]any{"tool_name": "run_shell_command", "tool_id": id,
			"parameters": map[string]any{"command": "ls", "description": "List the files in the working directory"}})
		f.event(e, "tool_result", map[string]any{"tool_id": id, "status": "success", "output": listDir(e.Dir)})
	}
}

// flood reads a file, as agents do all day: a tool call whose result is the filler.
func (f *geminiFormat) flood(e *Env, n int) int {
	f.endTurn()
	if !f.stream() {
		return n
	}
	f.tools++
	id := fmt.Sprintf("read_file__read_file_%d_0", e.nextTS())
	out := f.event(e, "tool_use", map[string]any{"tool_name": "read_file", "tool_id": id, "parameters": map[string]any{"absolute_path": e.Dir + "/notes.txt"}})
	content := strings.Repeat("line of notes\n", min(max(n/14, 1), 20000))
	return out + f.event(e, "tool_result", map[string]any{"tool_id": id, "status": "success", "output": content})
}

func (f *geminiFormat) answer(e *Env, text string) {
	f.input += 193 + int64(len(e.Prompt)/4)
	f.output += 12 + int64(len(text)/4)
	f.say(e, text, 6)
	f.endTurn()
	router := map[string]any{"total_tokens": 212, "input_tokens": 200, "output_tokens": 12, "cached": 0, "input": 200}
	switch f.format {
	case "stream-json":
		f.event(e, "result", map[string]any{"status": "success", "stats": map[string]any{
			"total_tokens": f.input + f.output + 212, "input_tokens": f.input + 200, "output_tokens": f.output + 12,
			"cached": 0, "input": f.input + 200, "duration_ms": 106, "tool_calls": f.tools,
			"models": map[string]any{
				"gemini-3.5-flash-lite": router,
				"gemini-3.8-flash": map[string]any{"total_tokens": f.input + f.output, "input_tokens": f.input,
					"output_tokens": f.output, "cached": 0, "input": f.input},
			},
		}})
	case "json":
		response := ""
		if len(f.texts) > 0 {
			response = f.texts[len(f.texts)-1] // only the last model turn, as the real one
		}
		b, _ := json.MarshalIndent(map[string]any{"session_id": f.session, "response": response,
			"stats": map[string]any{"models": map[string]any{}, "tools": map[string]any{"totalCalls": f.tools}}}, "", "  ")
		e.printf("%s", b) // no final newline, as the real one
	default:
		for _, t := range f.texts {
			e.printf("%s\n", strings.TrimRight(t, "\n"))
		}
	}
}

// apiError reproduces a model API answering 500 to every attempt: retry notices with
// stack traces on stderr, a result with status "error", exit status 500 & 255.
func (f *geminiFormat) apiError(e *Env) int {
	const body = `{"error":{"code":500,"message":"Internal error encountered.","status":"INTERNAL"}}`
	for attempt := 1; attempt <= 3; attempt++ {
		e.errorf("Attempt %d failed with status 500. Retrying with backoff... _ApiError: %s\n", attempt, body)
		e.errorf("    at throwErrorIfNotOK (file://$CACHE/node_modules/@google/gemini-cli/bundle/chunk.js:267833:24)\n")
		e.errorf("    at async retryWithBackoff (file://$CACHE/node_modules/@google/gemini-cli/bundle/chunk.js:308039:23)\n")
	}
	zero := map[string]any{"total_tokens": 0, "input_tokens": 0, "output_tokens": 0, "cached": 0, "input": 0}
	switch f.format {
	case "stream-json":
		f.event(e, "result", map[string]any{"status": "error",
			"error": map[string]any{"type": "unknown", "message": "[API Error: " + body + "]"},
			"stats": map[string]any{"total_tokens": 0, "input_tokens": 0, "output_tokens": 0, "cached": 0, "input": 0,
				"duration_ms": 0, "tool_calls": 0, "models": map[string]any{"gemini-3.5-flash-lite": zero}}})
	case "json":
		b, _ := json.MarshalIndent(map[string]any{"session_id": f.session,
			"error": map[string]any{"type": "Error", "message": "[API Error: " + body + "]", "code": 500}}, "", "  ")
		e.errorf("%s\n", b)
	default:
		e.errorf("An unexpected critical error occurred:[object Object]\n")
		return 1
	}
	return 500 & 255
}

// orderedEvent puts "type" and "timestamp" first, as Gemini prints them, so the lines
// read like the real ones (encoding/json sorts map keys).
type orderedEvent map[string]any

func (o orderedEvent) MarshalJSON() ([]byte, error) {
	var b strings.Builder
	b.WriteString("{")
	write := func(k string, v any) error {
		if b.Len() > 1 {
			b.WriteString(",")
		}
		kb, _ := json.Marshal(k)
		vb, err := json.Marshal(v)
		if err != nil {
			return err
		}
		b.Write(kb)
		b.WriteString(":")
		b.Write(vb)
		return nil
	}
	for _, k := range []string{"type", "timestamp"} {
		if v, ok := o[k]; ok {
			if err := write(k, v); err != nil {
				return nil, err
			}
		}
	}
	rest, err := json.Marshal(map[string]any(withoutKeys(o, "type", "timestamp")))
	if err != nil {
		return nil, err
	}
	if len(rest) > 2 {
		b.WriteString(",")
		b.Write(rest[1 : len(rest)-1])
	}
	b.WriteString("}")
	return []byte(b.String()), nil
}

func withoutKeys(m map[string]any, keys ...string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	for _, k := range keys {
		delete(out, k)
	}
	return out
}

// isoTime renders a millisecond timestamp as the CLIs do: 2026-11-27T01:15:03.263Z.
func isoTime(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z")
}
