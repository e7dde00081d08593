package loop

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/oneshot-run/oneshot/internal/activity"
	"github.com/oneshot-run/oneshot/internal/executor"
	"github.com/oneshot-run/oneshot/internal/verdict"
)

// scripted is an executor that answers from a list and records the prompts it got.
type scripted struct {
	mu      sync.Mutex
	answers []string
	errs    []error
	prompts []string
	// block, when set, makes the n-th call (1-based) wait for ctx and return its error.
	block int
}

func (s *scripted) Run(ctx context.Context, req executor.Request, emit executor.Emit) (executor.Result, error) {
	s.mu.Lock()
	n := len(s.prompts)
	s.prompts = append(s.prompts, req.Prompt)
	s.mu.Unlock()
	if req.OnStart != nil {
		req.OnStart(4242)
	}
	if s.block == n+1 {
		<-ctx.Done()
		return executor.Result{}, ctx.Err()
	}
	if n < len(s.errs) && s.errs[n] != nil {
		return executor.Result{}, s.errs[n]
	}
	answer := s.answers[min(n, len(s.answers)-1)]
	emit(activity.Event{Type: activity.Message, Text: answer})
	return executor.Result{Text: answer, Usage: executor.Usage{InputTokens: 10, OutputTokens: 5, CostUSD: 0.01}}, nil
}

type memory struct {
	saves  []Run
	events []activity.Event
	fail   bool
}

func (m *memory) checkpoint(_ context.Context, r *Run) error {
	if m.fail {
		return errors.New("disk full")
	}
	b, _ := json.Marshal(r)
	var c Run
	_ = json.Unmarshal(b, &c)
	m.saves = append(m.saves, c)
	return nil
}

func newRun(max int) *Run {
	return &Run{ID: "r1", Task: "write hello.txt", MaxIterations: max, State: Queued,
		Worker: executor.Spec{Executor: "command"}, Auditor: executor.Spec{Executor: "command"}}
}

func newLoop(w, a executor.Executor, m *memory) *Loop {
	return &Loop{Worker: w, Auditor: a, Checkpoint: m.checkpoint, Events: activity.SinkFunc(func(e activity.Event) { m.events = append(m.events, e) })}
}

func states(m *memory) []State {
	var out []State
	for _, s := range m.saves {
		if len(out) == 0 || out[len(out)-1] != s.State {
			out = append(out, s.State)
		}
	}
	return out
}

func TestDoneFirstTry(t *testing.T) {
	w := &scripted{answers: []string{"wrote hello.txt"}}
	a := &scripted{answers: []string{`{"verdict":"DONE","feedback":"file exists"}`}}
	m := &memory{}
	r := newRun(3)
	if err := newLoop(w, a, m).Run(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if r.State != Completed || r.Verdict != verdict.Done || r.Result != "wrote hello.txt" || len(r.Iterations) != 1 {
		t.Fatalf("run = %+v", r)
	}
	want := []State{WorkerRunning, AuditPending, AuditorRunning, Completed}
	if got := states(m); !equal(got, want) {
		t.Fatalf("checkpointed states %v, want %v", got, want)
	}
	if r.Usage.InputTokens != 20 || r.Usage.CostUSD < 0.019 {
		t.Errorf("usage not summed over worker and auditor: %+v", r.Usage)
	}
	if !strings.Contains(a.prompts[0], "wrote hello.txt") || !strings.Contains(a.prompts[0], "write hello.txt") {
		t.Errorf("auditor prompt lacks the task or the worker's answer:\n%s", a.prompts[0])
	}
	for i, e := range m.events {
		if e.Seq != int64(i+1) || e.Task != "r1" || e.TS.IsZero() {
			t.Fatalf("event %d badly stamped: %+v", i, e)
		}
	}
}

func TestRetryFeedbackReachesReworker(t *testing.T) {
	w := &scripted{answers: []string{"first try", "second try"}}
	a := &scripted{answers: []string{`{"verdict":"RETRY","feedback":"hello.txt is empty"}`, `{"verdict":"DONE","feedback":"ok"}`}}
	m := &memory{}
	r := newRun(3)
	if err := newLoop(w, a, m).Run(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if r.State != Completed || len(r.Iterations) != 2 {
		t.Fatalf("state %s after %d iterations", r.State, len(r.Iterations))
	}
	if !strings.Contains(w.prompts[1], "hello.txt is empty") || !strings.Contains(w.prompts[1], "write hello.txt") {
		t.Fatalf("reworker prompt lacks the feedback or the task:\n%s", w.prompts[1])
	}
	if !strings.Contains(a.prompts[1], "second try") || strings.Contains(a.prompts[1], "first try") {
		t.Fatalf("auditor must see only this iteration's answer:\n%s", a.prompts[1])
	}
}

func TestImpossible(t *testing.T) {
	m := &memory{}
	r := newRun(3)
	err := newLoop(&scripted{answers: []string{"cannot"}}, &scripted{answers: []string{`{"verdict":"IMPOSSIBLE","feedback":"needs a GPU"}`}}, m).Run(context.Background(), r)
	if err != nil || r.State != Rejected || r.Feedback != "needs a GPU" {
		t.Fatalf("err %v, run %+v", err, r)
	}
}

func TestUnreadableVerdictsUntilLimit(t *testing.T) {
	w := &scripted{answers: []string{"did it"}}
	a := &scripted{answers: []string{"Looks done to me!"}}
	m := &memory{}
	r := newRun(2)
	if err := newLoop(w, a, m).Run(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if r.State != Failed || r.ErrorKind != "iteration_limit" || len(w.prompts) != 2 {
		t.Fatalf("state %s kind %s worker runs %d", r.State, r.ErrorKind, len(w.prompts))
	}
	if !r.Iterations[0].VerdictUnreadable || r.Verdict != verdict.Retry {
		t.Fatalf("unreadable verdict not recorded as RETRY: %+v", r.Iterations[0])
	}
}

func TestWorkerErrorFails(t *testing.T) {
	w := &scripted{errs: []error{errors.Join(executor.ErrInactivity)}}
	m := &memory{}
	r := newRun(3)
	if err := newLoop(w, &scripted{answers: []string{"x"}}, m).Run(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if r.State != Failed || r.Phase != WorkerRunning || r.ErrorKind != "inactivity" {
		t.Fatalf("run %+v", r)
	}
}

func TestCheckpointFailureStopsBeforeAgentRuns(t *testing.T) {
	w := &scripted{answers: []string{"x"}}
	m := &memory{fail: true}
	err := newLoop(w, &scripted{answers: []string{"x"}}, m).Run(context.Background(), newRun(3))
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("err = %v", err)
	}
	if len(w.prompts) != 0 {
		t.Fatal("the worker ran although its start could not be checkpointed")
	}
}

func TestStopCauses(t *testing.T) {
	for _, tc := range []struct {
		cause error
		want  State
	}{
		{ErrInterrupted, Interrupted},
		{ErrCancelled, Cancelled},
		{ErrReleased, AuditorRunning},
	} {
		t.Run(tc.cause.Error(), func(t *testing.T) {
			ctx, cancel := context.WithCancelCause(context.Background())
			a := &scripted{answers: []string{"x"}, block: 1}
			w := &scripted{answers: []string{"worked"}}
			m := &memory{}
			r := newRun(3)
			l := newLoop(w, a, m)
			done := make(chan error)
			go func() { done <- l.Run(ctx, r) }()
			for {
				a.mu.Lock()
				n := len(a.prompts)
				a.mu.Unlock()
				if n > 0 {
					break
				}
			}
			cancel(tc.cause)
			if err := <-done; !errors.Is(err, tc.cause) {
				t.Fatalf("err = %v, want %v", err, tc.cause)
			}
			last := m.saves[len(m.saves)-1]
			if last.State != tc.want || last.Agent != nil {
				t.Fatalf("last checkpoint state %s agent %+v, want %s", last.State, last.Agent, tc.want)
			}
			// Continue: the worker's answer must not be recomputed; the audit reruns.
			if err := r.Prepare("", 0, true); err != nil {
				t.Fatal(err)
			}
			if r.State != AuditPending && r.State != AuditorRunning {
				t.Fatalf("resume point %s, want the audit", r.State)
			}
			a.block = 0
			a.answers = []string{`{"verdict":"DONE","feedback":"ok"}`}
			if err := l.Run(context.Background(), r); err != nil || r.State != Completed {
				t.Fatalf("resumed run: err %v state %s", err, r.State)
			}
			if len(w.prompts) != 1 {
				t.Fatalf("worker ran %d times, want 1", len(w.prompts))
			}
		})
	}
}

func TestPrepare(t *testing.T) {
	r := newRun(1)
	r.State = Failed
	r.Iterations = []Iteration{{N: 1, WorkerDone: true, Verdict: verdict.Retry, Feedback: "more"}}
	if err := r.Prepare("", 0, false); err == nil {
		t.Fatal("resume past the limit without a higher limit must fail")
	}
	r.State = Failed
	if err := r.Prepare("also add docs", 3, false); err != nil || r.State != ReiterationPending || r.MaxIterations != 3 {
		t.Fatalf("err %v state %s", err, r.State)
	}
	if r.Additions[0] != "also add docs" {
		t.Fatal("addition not recorded")
	}
	r.State = Completed
	if err := r.Prepare("", 5, false); err == nil {
		t.Fatal("a completed run resumed without force")
	}
}

func equal(a, b []State) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
