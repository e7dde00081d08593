// Package executor runs one agent turn: it hands a prompt to an agent (a CLI such as
// Claude Code, or an OpenAI-compatible HTTP endpoint), turns whatever the agent prints
// into normalised activity events, and returns the agent's final answer.
//
// Every executor follows the same rules: context cancellation stops the agent, CLI agents
// run in their own process group and are killed as a group, an agent that prints nothing
// for the inactivity timeout is stopped, and a non-zero exit status is a failed run.
package executor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/oneshot-run/oneshot/internal/activity"
)

// Spec says which agent to run and how. It never holds secrets that get persisted:
// APIKey is resolved from the environment at start-up and is not serialised.
type Spec struct {
	Executor string   `json:"executor" yaml:"executor"`
	Model    string   `json:"model,omitempty" yaml:"model,omitempty"`
	Endpoint string   `json:"endpoint,omitempty" yaml:"endpoint,omitempty"`
	Command  []string `json:"command,omitempty" yaml:"command,omitempty"`
	// ExtraArgs are appended to a CLI agent's argument list.
	ExtraArgs []string `json:"extra_args,omitempty" yaml:"extra_args,omitempty"`
	APIKey    string   `json:"-" yaml:"-"`

	InactivityTimeout time.Duration `json:"inactivity_timeout,omitempty" yaml:"inactivity_timeout,omitempty"`
	MaxTimeout        time.Duration `json:"max_timeout,omitempty" yaml:"max_timeout,omitempty"`
}

// Request is one agent turn.
type Request struct {
	Prompt  string
	Workdir string
	// Env is added to the agent's environment (which otherwise is the process's own, so
	// agent CLIs find their own API key variables).
	Env []string
	// OnStart, when set, is called with the pid (== process group id) of a CLI agent once
	// it runs, so the caller can checkpoint it.
	OnStart func(pid int)
}

// Usage is what an agent reports about its consumption. Zero means "not reported".
type Usage struct {
	InputTokens  int64   `json:"input_tokens"`
	OutputTokens int64   `json:"output_tokens"`
	CostUSD      float64 `json:"cost_usd"`
}

// Add returns the sum of u and o.
func (u Usage) Add(o Usage) Usage {
	return Usage{u.InputTokens + o.InputTokens, u.OutputTokens + o.OutputTokens, u.CostUSD + o.CostUSD}
}

// Result is the outcome of a successful agent turn.
type Result struct {
	Text      string `json:"text"`
	Usage     Usage  `json:"usage"`
	SessionID string `json:"session_id,omitempty"`
	ExitCode  int    `json:"exit_code"`
}

// Emit receives events as the agent produces them. The executor fills Type, Text and
// Data; the caller stamps sequence, time, task, iteration, role and executor.
type Emit func(activity.Event)

// Executor runs agent turns.
type Executor interface {
	Run(ctx context.Context, req Request, emit Emit) (Result, error)
}

// Error kinds let callers (metrics, retries, exit codes) tell failures apart.
var (
	ErrInactivity = errors.New("agent produced no output for the inactivity timeout")
	ErrMaxTimeout = errors.New("agent exceeded the maximum run time")
	ErrExit       = errors.New("agent exited with a failure status")
	ErrAgent      = errors.New("agent reported an error")
	ErrNotFound   = errors.New("agent program not found")
	ErrModelAPI   = errors.New("model API error")
)

// Kind names the class of err for metrics and summaries: inactivity, timeout, exit,
// agent, not_found, model_api, cancelled or other.
func Kind(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrInactivity):
		return "inactivity"
	case errors.Is(err, ErrMaxTimeout):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case errors.Is(err, ErrNotFound):
		return "not_found"
	case errors.Is(err, ErrModelAPI):
		return "model_api"
	case errors.Is(err, ErrExit):
		return "exit"
	case errors.Is(err, ErrAgent):
		return "agent"
	default:
		return "other"
	}
}

// Names lists the executors New accepts.
func Names() []string {
	return []string{"aider", "claude", "cline", "codex", "command", "direct", "gemini"}
}

// New returns the executor that spec names, with the timeouts defaulted.
func New(spec Spec) (Executor, error) {
	if spec.InactivityTimeout <= 0 {
		spec.InactivityTimeout = DefaultInactivityTimeout
	}
	if spec.MaxTimeout <= 0 {
		spec.MaxTimeout = DefaultMaxTimeout
	}
	switch spec.Executor {
	case "direct":
		return newDirect(spec)
	case "claude":
		return newClaude(spec)
	case "codex":
		return newCodex(spec)
	case "gemini":
		return newGemini(spec)
	case "aider":
		return newAider(spec)
	case "cline":
		return newCline(spec)
	case "command":
		return newCommand(spec)
	}
	return nil, fmt.Errorf("unknown executor %q: use one of %v", spec.Executor, Names())
}

// Defaults for Spec's timeouts.
const (
	DefaultInactivityTimeout = 5 * time.Minute
	DefaultMaxTimeout        = time.Hour
)
