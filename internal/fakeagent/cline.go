package fakeagent

import (
	"encoding/json"
	"fmt"
	"strings"
)

// clinePersona plays the Cline CLI (2.x) in headless mode. With --json it prints one
// JSON object per line: {"type":"task_started","taskId":…}, then the task's messages
// ({"ts","type":"say"|"ask","say"|"ask":…,"text"}) as they complete, the answer as a
// say "completion_result", and on failure {"type":"error","message":…} before exiting
// 1. Without --json it prints only the final text. The prompt is the positional
// argument, or piped stdin, or both (stdin first). FAKEAGENT_PRETTY=1 pretty-prints
// the objects over several lines, as some Cline releases do, to exercise parsers.
func clinePersona(e *Env, step Step) int {
	prompt, bad := clineArgs(e.Args)
	if bad != "" {
		e.errorf("error: unknown option '%s'\n", bad)
		return 1
	}
	switch {
	case e.StdinPiped && strings.TrimSpace(e.Prompt) == "" && prompt == "":
		e.errorf("Empty input received from stdin. Please provide content to process.\n")
		return 1
	case e.Prompt != "" && prompt != "":
		e.usePrompt(e.Prompt + "\n\n" + prompt)
	case prompt != "":
		e.usePrompt(prompt)
	case e.Prompt == "":
		e.errorf("fakeagent: cline without a prompt would open its interactive view; give a prompt or pipe one\n")
		return 1
	}
	out, _ := e.flagValue("-F", "--output-format")
	f := &clineFormat{
		json:   e.hasFlag("--json") || out == "json",
		pretty: e.Getenv(PrettyEnv) == "1",
	}
	return e.play(step, f)
}

// clineArgs returns the prompt argument and the first option Cline would reject.
func clineArgs(args []string) (prompt, unknown string) {
	withValue := map[string]bool{
		"-m": true, "--model": true, "-c": true, "--cwd": true, "-t": true, "--timeout": true,
		"--config": true, "--reasoning-effort": true, "--max-consecutive-mistakes": true,
		"--hooks-dir": true, "-T": true, "--taskId": true, "-F": true, "--output-format": true,
		"-i": true, "--images": true,
	}
	flags := map[string]bool{
		"-y": true, "--yolo": true, "--json": true, "-a": true, "--act": true, "-p": true, "--plan": true,
		"-v": true, "--verbose": true, "--auto-approve-all": true, "--double-check-completion": true,
		"--auto-condense": true, "--thinking": true,
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, _, hasValue := strings.Cut(a, "=")
		switch {
		case i == 0 && (a == "task" || a == "t"):
		case !strings.HasPrefix(a, "-") || a == "-":
			if prompt == "" {
				prompt = a
			}
		case withValue[name]:
			if !hasValue {
				i++
			}
		case flags[name]:
		default:
			return "", a
		}
	}
	return prompt, ""
}

type clineFormat struct {
	json, pretty bool
	said         []string // say "text" messages, for the plain output
}

// clineMessage is a ClineMessage as the CLI serialises it.
type clineMessage struct {
	TS   int64  `json:"ts"`
	Type string `json:"type"`
	Say  string `json:"say,omitempty"`
	Ask  string `json:"ask,omitempty"`
	Text string `json:"text"`
}

func (f *clineFormat) emit(e *Env, v any) int {
	if !f.json {
		return 0
	}
	if !f.pretty {
		return e.jsonLine(v)
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		panic(err)
	}
	e.printf("%s\n", b)
	return len(b) + 1
}

func (f *clineFormat) say(e *Env, kind, text string) int {
	return f.emit(e, clineMessage{TS: e.nextTS(), Type: "say", Say: kind, Text: text})
}

func (f *clineFormat) ask(e *Env, kind, text string) int {
	return f.emit(e, clineMessage{TS: e.nextTS(), Type: "ask", Ask: kind, Text: text})
}

// apiRequest is the text of an api_req_started message: JSON inside a JSON string.
func apiRequest(tokensIn, tokensOut int, cost float64) string {
	b, _ := json.Marshal(map[string]any{
		"request":  "[fake request]",
		"tokensIn": tokensIn, "tokensOut": tokensOut, "cacheWrites": 0, "cacheReads": 0, "cost": cost,
	})
	return string(b)
}

func (f *clineFormat) start(e *Env) {
	f.emit(e, struct {
		Type   string `json:"type"`
		TaskID string `json:"taskId"`
	}{"task_started", fmt.Sprint(e.nextTS())})
	f.say(e, "task", e.Prompt)
	f.say(e, "api_req_started", apiRequest(1200, 80, 0.0042))
}

func (f *clineFormat) tool(e *Env) {
	f.say(e, "text", "I'll list the files first.")
	f.said = append(f.said, "I'll list the files first.")
	f.say(e, "command", "ls")
	f.say(e, "command_output", "README.md")
	f.say(e, "api_req_started", apiRequest(1500, 40, 0.0051))
}

func (f *clineFormat) flood(e *Env, n int) int {
	text := "Still working: " + strings.Repeat("la ", min(max(n/3, 1), 300))
	if !f.json {
		f.said = append(f.said, text)
		return len(text) + 2
	}
	return f.say(e, "text", text)
}

func (f *clineFormat) answer(e *Env, text string) {
	if !f.json {
		e.printf("%s\n", strings.Join(append(f.said, text), "\n\n"))
		return
	}
	f.say(e, "completion_result", text)
	f.ask(e, "completion_result", "")
}

func (f *clineFormat) apiError(e *Env) int {
	const msg = `500 {"error":{"message":"Internal Server Error","type":"server_error"}}`
	f.ask(e, "api_req_failed", msg)
	if f.json {
		f.emit(e, struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		}{"error", msg})
	} else {
		e.errorf("Error: API request failed: %s\n", msg)
		e.errorf("Error: %s\n", msg)
	}
	return 1
}
