package executor

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/oneshot-run/oneshot/internal/activity"
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

// Run runs the program once. A non-zero exit status fails the turn with ErrExit,
// quoting the last stderr lines.
func (c *commandExecutor) Run(ctx context.Context, req Request, emit Emit) (Result, error) {
	argv := append(slices.Clone(c.spec.Command), c.spec.ExtraArgs...)
	p := cliProcess(c.spec, req, argv)
	p.Stdin = req.Prompt
	return runRawStderr(ctx, p, &commandOutput{name: filepath.Base(argv[0]), answer: tailBuffer{max: maxAnswer}}, emit)
}

// commandOutput reads the program's stdout: every non-blank line is a message event;
// the answer is the whole stdout (its last 1 MiB, marked when cut).
type commandOutput struct {
	name   string
	answer tailBuffer
}

func (o *commandOutput) line(b []byte, emit Emit) {
	o.answer.writeLine(b)
	if !isBlankLine(b) {
		emit(activity.Event{Type: activity.Message, Text: activity.Truncate(string(b))})
	}
}

func (o *commandOutput) result(exitCode int, stderrLines []string) (Result, error) {
	if exitCode != 0 {
		return Result{ExitCode: exitCode}, fmt.Errorf("%w: %s exited with status %d%s", ErrExit, o.name, exitCode, stderrNote(stderrLines))
	}
	return Result{Text: o.answer.String()}, nil
}
