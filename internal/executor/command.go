package executor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/oneshot-run/oneshot/internal/activity"
)

const (
	// maxAnswer bounds the answer kept from a plain-text agent: the last 1 MiB.
	maxAnswer = 1 << 20
	// quotedStderrLines is how many stderr lines an error message quotes.
	quotedStderrLines = 10
)

// commandExecutor runs any program as an agent: the prompt goes to its stdin, its
// stdout is the answer, its stderr is kept as stderr events.
type commandExecutor struct {
	spec Spec
}

func newCommand(spec Spec) (Executor, error) {
	if len(spec.Command) == 0 || strings.TrimSpace(spec.Command[0]) == "" {
		return nil, errors.New(`executor "command" needs a program to run: set --worker-command "PROGRAM ARGS…" ` +
			`(or --auditor-command), or "command:" in the config file`)
	}
	return &commandExecutor{spec: spec}, nil
}

// Run runs the program once. Every non-blank stdout line is a message event; the
// answer is the whole stdout (its last 1 MiB, marked when cut). A non-zero exit
// status fails the turn with ErrExit, quoting the last stderr lines.
func (c *commandExecutor) Run(ctx context.Context, req Request, emit Emit) (Result, error) {
	argv := append(slices.Clone(c.spec.Command), c.spec.ExtraArgs...)
	name := filepath.Base(argv[0])
	answer := tailBuffer{max: maxAnswer}
	stderr := newLineTail(quotedStderrLines)

	p := cliProcess(c.spec, req, argv)
	p.Stdin = req.Prompt
	p.Stdout = func(line []byte) {
		answer.writeLine(line)
		if len(bytes.TrimSpace(line)) > 0 {
			emit(activity.Event{Type: activity.Message, Text: activity.Truncate(string(line))})
		}
	}
	p.Stderr = stderrEvents(stderr, emit)

	code, err := p.run(ctx)
	if err != nil {
		return Result{ExitCode: code}, withStderr(err, stderr)
	}
	if code != 0 {
		return Result{ExitCode: code}, fmt.Errorf("%w: %s exited with status %d%s", ErrExit, name, code, stderrNote(stderr))
	}
	res := Result{Text: answer.String()}
	emit(activity.Event{Type: activity.Result, Text: activity.Truncate(res.Text)})
	return res, nil
}

// stderrEvents turns stderr lines into stderr events and keeps the last ones.
func stderrEvents(tail *lineTail, emit Emit) func([]byte) {
	return func(line []byte) {
		tail.add(line)
		emit(activity.Event{Type: activity.Stderr, Text: activity.Truncate(string(line))})
	}
}

// stderrNote quotes the last stderr lines for an error message, or says there were none.
func stderrNote(tail *lineTail) string {
	if s := tail.String(); s != "" {
		return "; its last stderr lines: " + s
	}
	return " and printed nothing on stderr"
}

// withStderr adds the last stderr lines to a timeout, which often explain a stall
// (a retrying model API, a prompt for input).
func withStderr(err error, tail *lineTail) error {
	if !errors.Is(err, ErrInactivity) && !errors.Is(err, ErrMaxTimeout) {
		return err
	}
	if s := tail.String(); s != "" {
		return fmt.Errorf("%w (last stderr lines: %s)", err, s)
	}
	return err
}
