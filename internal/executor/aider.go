package executor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/oneshot-run/oneshot/internal/activity"
)

// aiderExecutor runs aider in scripting mode. The prompt goes through a private
// temporary file (--message-file): prompts can be larger than an argument may be,
// and arguments are visible to every user in ps. aider prints plain text on stdout;
// aiderStream reads it.
type aiderExecutor struct {
	spec Spec
}

func newAider(spec Spec) (Executor, error) {
	return &aiderExecutor{spec: spec}, nil
}

// argv is aider's command line: answer yes to every question, no colours or
// streaming (clean lines), no update check or model warnings on start-up.
func (a *aiderExecutor) argv(messageFile string) []string {
	argv := []string{"aider", "--yes-always", "--exit", "--no-pretty", "--no-stream",
		"--no-check-update", "--no-show-model-warnings"}
	if a.spec.Model != "" {
		argv = append(argv, "--model", a.spec.Model)
	}
	argv = append(argv, "--message-file", messageFile)
	return append(argv, a.spec.ExtraArgs...)
}

// Run runs aider once. It fails with ErrExit on a non-zero status, ErrModelAPI when
// aider reported model API errors and no answer (aider itself exits 0 then), and
// ErrAgent when it printed no answer at all.
func (a *aiderExecutor) Run(ctx context.Context, req Request, emit Emit) (Result, error) {
	file, cleanup, err := writePromptFile(req.Prompt, req.Workdir)
	if err != nil {
		return Result{ExitCode: -1}, err
	}
	defer cleanup()
	return runRawStderr(ctx, cliProcess(a.spec, req, a.argv(file)), newAiderStream(), emit)
}

// writePromptFile writes the prompt to a file only the current user can read, in a
// fresh directory outside workdir (the agent must not see it as part of the project),
// and returns a function that removes it.
func writePromptFile(prompt, workdir string) (string, func(), error) {
	bases := []string{os.TempDir()}
	if cache, err := os.UserCacheDir(); err == nil {
		bases = append(bases, filepath.Join(cache, "oneshot"))
	}
	for _, base := range bases {
		if insideDir(base, workdir) {
			continue
		}
		if err := os.MkdirAll(base, 0o700); err != nil {
			continue
		}
		dir, err := os.MkdirTemp(base, "oneshot-prompt-")
		if err != nil {
			continue
		}
		cleanup := func() { os.RemoveAll(dir) }
		path := filepath.Join(dir, "prompt.md")
		if err := os.WriteFile(path, []byte(prompt), 0o600); err != nil {
			cleanup()
			return "", nil, fmt.Errorf("writing the prompt for aider: %w", err)
		}
		return path, cleanup, nil
	}
	return "", nil, fmt.Errorf("no place outside the working directory %s for aider's prompt file: set TMPDIR", workdir)
}

// insideDir reports whether path is dir or inside it.
func insideDir(path, dir string) bool {
	if dir == "" {
		return false
	}
	p, err1 := filepath.Abs(path)
	d, err2 := filepath.Abs(dir)
	if err1 != nil || err2 != nil {
		return false
	}
	rel, err := filepath.Rel(d, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// aiderStream reads aider's plain-text output line by line.
//
// aider first announces itself (version, models, git repo, repo map, help hint):
// those lines are preamble, up to the empty line after the help hint, or up to the
// first line that is not an announcement (releases differ). After that,
// "Applied edit to FILE" and "Commit HASH MESSAGE" are tool_use events, the
// "Tokens: … Cost: …" report is a usage event, model API errors ("litellm.…Error:",
// "Retrying in …") are error events, and everything else is the model's reply: a
// message event per non-blank line, and the answer (its last 1 MiB).
type aiderStream struct {
	afterStartup bool
	sawHelp      bool // the last announcement ("Use /help …") was seen
	answer       tailBuffer
	usage        Usage
	apiErrors    *lineTail
}

func newAiderStream() *aiderStream {
	return &aiderStream{answer: tailBuffer{max: maxAnswer}, apiErrors: newLineTail(3)}
}

func (s *aiderStream) line(b []byte, emit Emit) {
	line := strings.TrimRight(string(b), "\r")
	text := strings.TrimSpace(line)
	if !s.afterStartup {
		switch {
		case text == "":
			// aider prints an empty line between its announcements and the reply.
			s.afterStartup = s.sawHelp
			return
		case aiderPreamble(text):
			s.sawHelp = s.sawHelp || strings.HasPrefix(text, "Use /help")
			emit(activity.Event{Type: activity.Preamble, Text: activity.Truncate(text)})
			return
		}
		s.afterStartup = true
	}
	switch {
	case strings.HasPrefix(text, "Applied edit to "), strings.HasPrefix(text, "Commit "),
		strings.HasPrefix(text, "Did not apply edit to "), strings.HasPrefix(text, "Creating empty file "):
		emit(activity.Event{Type: activity.ToolUse, Text: activity.Truncate(text)})
	case strings.HasPrefix(text, "Tokens: "), strings.HasPrefix(text, "Cost: "):
		u := parseAiderUsage(text)
		s.usage = s.usage.Add(u)
		emit(activity.Event{Type: activity.Usage, Text: activity.Truncate(text)})
	case aiderAPIError(text):
		s.apiErrors.add(text)
		emit(activity.Event{Type: activity.Error, Text: activity.Truncate(text)})
	default:
		s.answer.writeLine([]byte(line))
		if text != "" {
			emit(activity.Event{Type: activity.Message, Text: activity.Truncate(line)})
		}
	}
}

func (s *aiderStream) result(exitCode int, stderrLines []string) (Result, error) {
	res := Result{Usage: s.usage, ExitCode: exitCode}
	if exitCode != 0 {
		detail := stderrNote(stderrLines)
		if e := s.apiErrors.String(); e != "" {
			detail = "; it reported: " + e + detail
		}
		return res, fmt.Errorf("%w: aider exited with status %d%s", ErrExit, exitCode, detail)
	}
	res.Text = strings.TrimSpace(s.answer.String())
	if res.Text != "" {
		return res, nil
	}
	if e := s.apiErrors.String(); e != "" {
		return res, fmt.Errorf("%w: aider got no answer from the model: %s; check the model name (--worker-model / --auditor-model) and the provider's API key and status",
			ErrModelAPI, e)
	}
	return res, fmt.Errorf("%w: aider exited without printing an answer%s", ErrAgent, stderrNote(stderrLines))
}

// aiderPreamble reports whether a line is one of aider's start-up announcements.
func aiderPreamble(text string) bool {
	for _, p := range []string{
		"Aider v", "Main model:", "Model:", "Models:", "Editor model:", "Weak model:", "Git repo:",
		"Repo-map:", "Use /help", "Restored previous conversation history", "Multiline mode:",
		"Warning:", "Warning for ", "See: ", "Note: in-chat filenames", "Cur working dir:", "Git working dir:",
		"Detected dumb terminal", "You can skip this check", "Newer aider version", "Can't initialize prompt toolkit",
		"Creating empty file ",
	} {
		if strings.HasPrefix(text, p) {
			return true
		}
	}
	if strings.HasPrefix(text, "Added ") && (strings.HasSuffix(text, " to the chat.") ||
		strings.HasSuffix(text, " to the chat (read-only).")) {
		return true
	}
	return (strings.HasPrefix(text, "Add ") || strings.HasPrefix(text, "Added ")) && strings.Contains(text, ".gitignore")
}

// aiderAPIError reports whether a line is aider reporting a failed model call: the
// litellm exception, aider's explanation of it, or its retry notice. (A reply may
// well discuss "ValueError: …", so nothing broader is taken as an error.)
func aiderAPIError(text string) bool {
	return strings.HasPrefix(text, "litellm.") || strings.HasPrefix(text, "Retrying in ") ||
		strings.HasPrefix(text, "The API provider")
}

// parseAiderUsage reads "Tokens: 2.3k sent, 1.1k cache write, 105 received. Cost:
// $0.0068 message, $0.0068 session." (either half may be alone on its line). The
// cache counts are details of what was sent, not added to it; the cost counted is
// the message's (the session's is the running total).
func parseAiderUsage(text string) Usage {
	var u Usage
	tokens, cost := "", ""
	if rest, ok := strings.CutPrefix(text, "Tokens: "); ok {
		tokens, cost, _ = strings.Cut(rest, "Cost: ")
	} else {
		cost, _ = strings.CutPrefix(text, "Cost: ")
	}
	for _, part := range strings.Split(tokens, ", ") { // "12,345 sent" in older releases
		num, label, _ := strings.Cut(strings.TrimSpace(part), " ")
		n := parseAiderCount(num)
		switch strings.TrimRight(label, ". ") {
		case "sent":
			u.InputTokens += n
		case "received":
			u.OutputTokens += n
		}
	}
	if first, _, ok := strings.Cut(cost, " message"); ok {
		if f, err := strconv.ParseFloat(strings.TrimPrefix(strings.TrimSpace(first), "$"), 64); err == nil {
			u.CostUSD = f
		}
	}
	return u
}

// parseAiderCount reads aider's rounded token counts: 105, 2.3k, 12k, 1.2M.
func parseAiderCount(s string) int64 {
	mult := 1.0
	switch {
	case strings.HasSuffix(s, "k"):
		mult, s = 1e3, strings.TrimSuffix(s, "k")
	case strings.HasSuffix(s, "M"):
		mult, s = 1e6, strings.TrimSuffix(s, "M")
	}
	f, err := strconv.ParseFloat(strings.ReplaceAll(s, ",", ""), 64)
	if err != nil || f < 0 {
		return 0
	}
	return int64(f*mult + 0.5)
}
