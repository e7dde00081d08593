package executor

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oneshot-run/oneshot/internal/activity"
	"github.com/oneshot-run/oneshot/internal/fakeagent"
)

// The claude, codex and gemini executors run end to end against the fake agents (the
// test binary linked under the CLIs' names; see agents_test.go), whose personas print
// what the real CLIs print.

func TestStreamExecutorsWithFakeAgents(t *testing.T) {
	t.Parallel()
	type want struct {
		answer   string
		kinds    []error
		errText  []string
		types    []activity.Type // must appear, in this order (others may come between)
		minUsage bool
	}
	cases := []struct {
		name  string
		exec  string
		step  *fakeagent.Step
		extra []string // Request.Env additions
		want  want
	}{
		{"claude answer", "claude", nil, nil, want{answer: fakeagent.DefaultAnswer, minUsage: true,
			types: []activity.Type{activity.Preamble, activity.Thought, activity.Message, activity.Usage, activity.Result}}},
		{"claude tool", "claude", &fakeagent.Step{Tool: true, Answer: "done"}, nil, want{answer: "done", minUsage: true,
			types: []activity.Type{activity.Preamble, activity.ToolUse, activity.ToolResult, activity.Message, activity.Result}}},
		{"claude api error", "claude", &fakeagent.Step{Behaviour: "api-error"}, nil, want{kinds: []error{ErrModelAPI, ErrExit},
			errText: []string{"HTTP 500"}, types: []activity.Type{activity.Preamble, activity.Error, activity.Usage, activity.Error}}},
		{"claude crash", "claude", &fakeagent.Step{Behaviour: "crash"}, nil, want{kinds: []error{ErrExit},
			errText: []string{"without a result", "simulated crash"}}},
		{"claude exit after result", "claude", &fakeagent.Step{Behaviour: "exit:3"}, nil, want{kinds: []error{ErrExit},
			errText: []string{"exited with status 3"}}},
		{"claude as root without IS_SANDBOX", "claude", nil, []string{fakeagent.RootEnv + "=1", "IS_SANDBOX="}, want{kinds: []error{ErrExit},
			errText: []string{"refused to start as root", "IS_SANDBOX=1"}}},

		{"codex answer", "codex", nil, nil, want{answer: fakeagent.DefaultAnswer, minUsage: true,
			types: []activity.Type{activity.Preamble, activity.Preamble, activity.Message, activity.Usage, activity.Result}}},
		{"codex tool", "codex", &fakeagent.Step{Tool: true, Answer: "done"}, nil, want{answer: "done", minUsage: true,
			types: []activity.Type{activity.Thought, activity.ToolUse, activity.ToolResult, activity.Message}}},
		{"codex api error", "codex", &fakeagent.Step{Behaviour: "api-error"}, nil, want{kinds: []error{ErrModelAPI, ErrExit},
			errText: []string{"high demand"}, types: []activity.Type{activity.Preamble, activity.Error, activity.Error}}},
		{"codex crash", "codex", &fakeagent.Step{Behaviour: "crash"}, nil, want{kinds: []error{ErrExit},
			errText: []string{"exited with status 1", "simulated crash"}}},

		{"gemini answer", "gemini", nil, nil, want{answer: fakeagent.DefaultAnswer, minUsage: true,
			types: []activity.Type{activity.Preamble, activity.Message, activity.Usage, activity.Result}}},
		{"gemini tool", "gemini", &fakeagent.Step{Tool: true, Answer: "done"}, nil, want{answer: "done", minUsage: true,
			types: []activity.Type{activity.Message, activity.ToolUse, activity.ToolResult, activity.Message, activity.Result}}},
		{"gemini api error", "gemini", &fakeagent.Step{Behaviour: "api-error"}, nil, want{kinds: []error{ErrModelAPI, ErrExit},
			errText: []string{"likely HTTP 500", "exit status 244"}}},
		{"gemini untrusted", "gemini", nil, []string{"GEMINI_CLI_TRUST_WORKSPACE=false"}, want{kinds: []error{ErrExit},
			errText: []string{"not a trusted folder", "exit status 55"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := newFakeAgents(t, tc.exec)
			if tc.step != nil {
				fake.script(t, *tc.step)
			}
			req := fake.request("What is 6 times 7?")
			req.Env = append(req.Env, tc.extra...)
			var started int
			req.OnStart = func(pid int) { started = pid }
			res, events, err := runExecutor(t, Spec{Executor: tc.exec, Model: "model-x", InactivityTimeout: time.Minute}, req)
			if started <= 1 {
				t.Errorf("OnStart got pid %d", started)
			}
			if !inOrder(events.types(), tc.want.types) {
				t.Errorf("events %v do not include %v in order", events.types(), tc.want.types)
			}
			if tc.want.kinds != nil {
				checkError(t, err, tc.want.kinds, tc.want.errText...)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Text != tc.want.answer || res.SessionID == "" || res.ExitCode != 0 {
				t.Errorf("result %+v, want answer %q and a session id", res, tc.want.answer)
			}
			if tc.exec == "gemini" && !slices.Contains(events.texts(activity.Stderr), "YOLO mode is enabled. All tool calls will be automatically approved.") {
				t.Errorf("gemini's notices did not become stderr events: %q", events.texts(activity.Stderr))
			}
			if tc.want.minUsage && (res.Usage.InputTokens == 0 || res.Usage.OutputTokens == 0) {
				t.Errorf("usage %+v", res.Usage)
			}
			recs := fake.records(t)
			if len(recs) != 1 || recs[0].Prompt != "What is 6 times 7?" {
				t.Fatalf("records %+v: the prompt did not arrive on stdin", recs)
			}
			if !slices.Contains(recs[0].Args, "model-x") {
				t.Errorf("the model did not reach the CLI: %q", recs[0].Args)
			}
		})
	}
}

// inOrder reports whether want is a subsequence of got.
func inOrder(got, want []activity.Type) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

func TestStreamExecutorsVerdictAndEnvironment(t *testing.T) {
	t.Setenv("ANTHROPIC_API_KEY", "sk-test-not-a-key")
	t.Setenv("GEMINI_API_KEY", "test-not-a-key")
	for _, name := range []string{"claude", "codex", "gemini"} {
		t.Run(name, func(t *testing.T) {
			fake := newFakeAgents(t, name)
			res, _, err := runExecutor(t, Spec{Executor: name}, fake.request("Reply with a JSON verdict."))
			if err != nil {
				t.Fatal(err)
			}
			if res.Text != fakeagent.DefaultVerdict {
				t.Errorf("answer %q, want the verdict", res.Text)
			}
			env := fake.records(t)[0].Env
			for _, k := range []string{"ANTHROPIC_API_KEY", "GEMINI_API_KEY"} {
				if !slices.Contains(env, k) {
					t.Errorf("%s did not pass through to the agent (it saw %q)", k, env)
				}
			}
			if name == "gemini" && !slices.Contains(env, "GEMINI_CLI_TRUST_WORKSPACE") {
				t.Errorf("gemini ran without GEMINI_CLI_TRUST_WORKSPACE")
			}
			if name == "claude" && os.Geteuid() == 0 && !slices.Contains(env, "IS_SANDBOX") {
				t.Errorf("claude ran as root without IS_SANDBOX: it would refuse to start")
			}
		})
	}
}

func TestStreamExecutorsStopASilentAgent(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"claude", "codex", "gemini"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fake := newFakeAgents(t, name)
			fake.script(t, fakeagent.Step{Behaviour: "hang"})
			start := time.Now()
			// The timeout is longer than a loaded machine needs to start the fake.
			_, events, err := runExecutor(t, Spec{Executor: name, InactivityTimeout: 2 * time.Second}, fake.request("anything"))
			checkError(t, err, []error{ErrInactivity})
			if !strings.HasPrefix(err.Error(), name+": ") {
				t.Errorf("error %q does not start with the CLI's name", err)
			}
			if d := time.Since(start); d > 15*time.Second {
				t.Errorf("stopping took %s", d)
			}
			if len(events.texts(activity.Preamble)) == 0 {
				t.Error("the start-up output before the hang was lost")
			}
		})
	}
}

func TestStreamExecutorsFlood(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"claude", "codex", "gemini"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fake := newFakeAgents(t, name)
			fake.script(t, fakeagent.Step{Behaviour: "flood:3000000", Answer: "made it"})
			res, events, err := runExecutor(t, Spec{Executor: name}, fake.request("go"))
			if err != nil || res.Text != "made it" {
				t.Fatalf("result %.200q (%d bytes), err %v", res.Text, len(res.Text), err)
			}
			if len(events) < 10 {
				t.Errorf("only %d events for 3 MB of output", len(events))
			}
		})
	}
}

func TestStreamExecutorsMissingProgram(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"claude", "codex", "gemini"} {
		_, _, err := runExecutor(t, Spec{Executor: name}, Request{Prompt: "x", Workdir: t.TempDir(), Env: []string{"PATH=" + t.TempDir()}})
		checkError(t, err, []error{ErrNotFound}, "npm install")
	}
}

func TestCodexExecutorRejectedArgument(t *testing.T) {
	t.Parallel()
	fake := newFakeAgents(t, "codex")
	_, _, err := runExecutor(t, Spec{Executor: "codex", ExtraArgs: []string{"--no-such-flag"}}, fake.request("x"))
	checkError(t, err, []error{ErrExit}, "rejected its arguments", "'--no-such-flag'")
}
