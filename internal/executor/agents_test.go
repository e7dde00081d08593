package executor

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oneshot-run/oneshot/internal/activity"
	"github.com/oneshot-run/oneshot/internal/fakeagent"
)

// The test binary also plays the fake agents of package fakeagent: linked under an
// agent's name (claude, aider, …) and started with ONESHOT_TEST_FAKEAGENT=1, it runs
// fakeagent.Main before any test machinery, so executors run against it exactly as
// they run against the real CLIs, with no separate build.
const fakeAgentEnv = "ONESHOT_TEST_FAKEAGENT"

func init() {
	if os.Getenv(fakeAgentEnv) == "1" {
		os.Exit(fakeagent.Main())
	}
}

// fakeAgents is a directory of fake agent programs and what a Request needs to use
// them.
type fakeAgents struct {
	// Env goes into Request.Env: the programs first on PATH, the fake agent switch,
	// FAKEAGENT_LOG, and FAKEAGENT_SCRIPT once script is called.
	Env []string
	// Log holds one fakeagent.Record per invocation.
	Log string
	// Workdir is an empty directory to run the agent in.
	Workdir string
}

// newFakeAgents links the test binary under each of names in a new directory.
func newFakeAgents(t *testing.T, names ...string) *fakeAgents {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin, logDir, work := t.TempDir(), t.TempDir(), t.TempDir()
	for _, n := range names {
		if err := os.Symlink(exe, filepath.Join(bin, n)); err != nil {
			t.Fatal(err)
		}
	}
	return &fakeAgents{
		Env: []string{
			"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"),
			fakeAgentEnv + "=1",
			fakeagent.LogEnv + "=" + logDir,
			quickRaceExit(),
		},
		Log:     logDir,
		Workdir: work,
	}
}

// script makes the agents follow steps.
func (f *fakeAgents) script(t *testing.T, steps ...fakeagent.Step) {
	t.Helper()
	b, err := json.Marshal(fakeagent.Script{Steps: steps})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "script.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	f.Env = append(f.Env, fakeagent.ScriptEnv+"="+path)
}

// request is a Request running in the fake world.
func (f *fakeAgents) request(prompt string) Request {
	return Request{Prompt: prompt, Workdir: f.Workdir, Env: f.Env}
}

// records returns what the agents recorded about their invocations.
func (f *fakeAgents) records(t *testing.T) []fakeagent.Record {
	t.Helper()
	recs, err := fakeagent.ReadRecords(f.Log)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// runExecutor runs one turn of the executor New makes of spec and checks the events it
// emitted.
func runExecutor(t *testing.T, spec Spec, req Request) (Result, eventLog, error) {
	t.Helper()
	ex, err := New(spec)
	if err != nil {
		t.Fatal(err)
	}
	var events eventLog
	res, err := ex.Run(context.Background(), req, events.emit)
	events.validate(t)
	return res, events, err
}

// checkError fails the test unless err is each of kinds and says each of texts.
func checkError(t testing.TB, err error, kinds []error, texts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one that is %v and says %q", kinds, texts)
	}
	for _, k := range kinds {
		if !errors.Is(err, k) {
			t.Errorf("error %q is not %v", err, k)
		}
	}
	for _, s := range texts {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
}

// eventLog collects emitted events.
type eventLog []activity.Event

func (l *eventLog) emit(e activity.Event) { *l = append(*l, e) }

// types lists the event types in order.
func (l eventLog) types() []activity.Type {
	out := make([]activity.Type, len(l))
	for i, e := range l {
		out[i] = e.Type
	}
	return out
}

// texts lists the texts of the events of type t.
func (l eventLog) texts(t activity.Type) []string {
	var out []string
	for _, e := range l {
		if e.Type == t {
			out = append(out, e.Text)
		}
	}
	return out
}

// typeTexts lists the events as "type: text".
func (l eventLog) typeTexts() []string {
	out := make([]string, len(l))
	for i, e := range l {
		out[i] = string(e.Type) + ": " + e.Text
	}
	return out
}

// validate checks what every consumer of events relies on: a known type, text within
// the limit, Data that is valid JSON, and an event that serialises.
func (l eventLog) validate(t testing.TB) {
	t.Helper()
	valid := map[activity.Type]bool{activity.State: true, activity.Preamble: true, activity.Message: true,
		activity.Thought: true, activity.ToolUse: true, activity.ToolResult: true, activity.Usage: true,
		activity.Result: true, activity.Stderr: true, activity.Error: true}
	for i, e := range l {
		if !valid[e.Type] {
			t.Errorf("event %d has type %q", i, e.Type)
		}
		if len(e.Text) > activity.MaxText+len("…[truncated]") {
			t.Errorf("event %d text is %d bytes", i, len(e.Text))
		}
		if e.Data != nil && !json.Valid(e.Data) {
			t.Errorf("event %d data is not JSON: %.80q", i, e.Data)
		}
		if _, err := json.Marshal(e); err != nil {
			t.Errorf("event %d does not serialise: %v", i, err)
		}
	}
}
