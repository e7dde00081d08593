package fakeagent

import (
	"os"
	"path/filepath"
	"strings"
)

// aiderPersona plays aider in scripting mode (--message / --message-file). Like the
// real one it prints plain text on stdout: its start-up announcements, the model's
// reply, a "Tokens: … Cost: …" report, then "Applied edit to FILE" and "Commit …"
// lines for the edits it made. It reads the message from the file (or the argument),
// not from stdin, and it exits 0 even when the model API failed, after printing the
// error. Unknown options fail as argparse does (status 2).
func aiderPersona(e *Env, step Step) int {
	if bad := aiderUnknownOption(e.Args); bad != "" {
		e.errorf("usage: aider [-h] [--model MODEL] [--message COMMAND] [--message-file MESSAGE_FILE] [--yes-always] [FILE ...]\n")
		e.errorf("aider: error: unrecognized arguments: %s\n", bad)
		return 2
	}
	f := &aiderFormat{model: "gpt-4o"}
	if m, ok := e.flagValue("--model"); ok {
		f.model = m
	}
	if path, ok := e.flagValue("--message-file", "-f"); ok {
		b, err := os.ReadFile(path)
		if err != nil {
			f.start(e)
			e.printf("Message file not found: %s\n", path)
			return 1
		}
		e.usePrompt(string(b))
	} else if msg, ok := e.flagValue("--message", "--msg", "-m"); ok {
		e.usePrompt(msg)
	} else {
		f.start(e)
		return 0 // chat mode reads commands from stdin, which is at its end: aider exits
	}
	return e.play(step, f)
}

// aiderUnknownOption returns the first option aider would reject.
func aiderUnknownOption(args []string) string {
	withValue := map[string]bool{
		"--model": true, "--message": true, "--msg": true, "-m": true, "--message-file": true, "-f": true,
		"--weak-model": true, "--editor-model": true, "--edit-format": true, "--map-tokens": true,
		"--openai-api-base": true, "--api-key": true, "--set-env": true, "--read": true, "--file": true,
		"--chat-language": true, "--reasoning-effort": true, "--thinking-tokens": true, "--config": true, "-c": true,
	}
	flags := map[string]bool{
		"--yes-always": true, "--yes": true, "--exit": true, "--pretty": true, "--no-pretty": true,
		"--stream": true, "--no-stream": true, "--check-update": true, "--no-check-update": true,
		"--show-model-warnings": true, "--no-show-model-warnings": true, "--auto-commits": true,
		"--no-auto-commits": true, "--git": true, "--no-git": true, "--fancy-input": true, "--no-fancy-input": true,
		"--gitignore": true, "--no-gitignore": true, "--dry-run": true, "--no-analytics": true,
		"--analytics-disable": true, "--verbose": true, "-v": true, "--architect": true,
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			continue // a file to add to the chat
		}
		name, _, hasValue := strings.Cut(a, "=")
		switch {
		case withValue[name]:
			if !hasValue {
				i++
			}
		case flags[name] && !hasValue:
		default:
			return a
		}
	}
	return ""
}

type aiderFormat struct {
	model  string
	edited bool
}

func (f *aiderFormat) start(e *Env) {
	e.printf("Aider v0.86.1\n")
	if f.model == "gpt-4o" {
		e.printf("Main model: gpt-4o with diff edit format\nWeak model: gpt-4o-mini\n")
	} else {
		e.printf("Model: %s with whole edit format\n", f.model)
	}
	if _, err := os.Stat(filepath.Join(e.Dir, ".git")); err == nil {
		entries, _ := os.ReadDir(e.Dir)
		e.printf("Git repo: .git with %d files\n", max(len(entries)-1, 0))
		e.printf("Repo-map: using 4096 tokens, auto refresh\n")
	} else {
		e.printf("Git repo: none\nRepo-map: disabled\n")
	}
	e.printf("Use /help <question> for help, run \"aider --help\" to see cmd line args\n")
	e.printf("\n")
}

// tool: aider's "tools" are the edits it applies; they are reported after the reply.
func (f *aiderFormat) tool(*Env) { f.edited = true }

func (f *aiderFormat) flood(e *Env, n int) int {
	line := "Thinking out loud about the task, at length: " + strings.Repeat("la ", min(max(n/3, 1), 300)) + "\n"
	e.printf("%s", line)
	return len(line)
}

func (f *aiderFormat) answer(e *Env, text string) {
	e.printf("%s\n\n", strings.TrimRight(text, "\n"))
	e.printf("Tokens: 2.1k sent, 57 received. Cost: $0.0058 message, $0.0058 session.\n")
	if f.edited {
		e.printf("Applied edit to README.md\n")
		e.printf("Commit 1a2b3c4 docs: update README\n")
	}
}

// apiError prints what aider prints when every retry of the model call failed; it
// then returns to its caller, which exits 0.
func (f *aiderFormat) apiError(e *Env) int {
	for _, delay := range []string{"0.2", "0.5"} {
		e.printf("litellm.InternalServerError: OpenAIException - Internal Server Error\n")
		e.printf("The API provider's servers are down or overloaded.\n")
		e.printf("Retrying in %s seconds...\n", delay)
	}
	e.printf("litellm.InternalServerError: OpenAIException - Internal Server Error\n")
	e.printf("The API provider's servers are down or overloaded.\n")
	return 0
}
