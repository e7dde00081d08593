package fakeagent

import (
	"os"
	"strings"
)

// commandPersona plays any program run by executor "command": the prompt arrives on
// stdin, the answer goes to stdout and nothing else does; progress, tool calls and
// errors go to stderr, as well-behaved filters do.
func commandPersona(e *Env, step Step) int {
	return e.play(step, commandFormat{})
}

type commandFormat struct{}

func (commandFormat) start(e *Env) {
	e.errorf("%s: working on a %d-byte prompt\n", e.Name, len(e.Prompt))
}

func (commandFormat) tool(e *Env) {
	e.errorf("%s: $ ls\n", e.Name)
	entries, _ := os.ReadDir(e.Dir)
	for _, d := range entries {
		e.errorf("%s\n", d.Name())
	}
}

func (commandFormat) flood(e *Env, n int) int {
	line := e.Name + ": progress " + strings.Repeat(".", min(max(n, 1), 200)) + "\n"
	e.errorf("%s", line)
	return len(line)
}

func (commandFormat) answer(e *Env, text string) {
	e.printf("%s\n", text)
}

func (commandFormat) apiError(e *Env) int {
	e.errorf("%s: the model API answered 500 Internal Server Error after 3 attempts\n", e.Name)
	return 1
}
