package servicetest

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oneshot-run/oneshot/internal/fakeopenai"
	"github.com/oneshot-run/oneshot/internal/store/storetest"
)

// rescueAfter is the clusters' rescue_after (defaultConfig): the runtime's lowest
// allowed value, twice the 5s heartbeat interval.
const rescueAfter = 10 * time.Second

// TestChaosWorkerKilled SIGKILLs three of four worker processes while they run an
// agent: one in its task's worker phase (a model call), one in the audit, and one
// running a command agent that sleeps. The fourth worker takes the three tasks over
// from their checkpoints once the dead workers' heartbeats are RescueAfter old: a
// killed worker phase runs again, a finished worker answer is kept and only the audit
// runs again. Each task then shows two attempts and one result of each role.
func TestChaosWorkerKilled(t *testing.T) {
	t.Parallel()
	m := newModel(t, func(c call) (fakeopenai.Reply, bool) {
		// The first call of the phase under test hangs until its worker dies.
		switch {
		case strings.Contains(c.Prompt, "DIE-IN-WORKER") && c.Role == "worker" && c.N == 1,
			strings.Contains(c.Prompt, "DIE-IN-AUDIT") && c.Role == "auditor" && c.N == 1:
			return fakeopenai.Reply{Hang: true}, true
		}
		return fakeopenai.Reply{}, false
	})
	// The command agent's first run sleeps (and outlives its worker); later runs answer.
	script := filepath.Join(t.TempDir(), "script.json")
	if err := os.WriteFile(script, []byte(`{"steps": [{"sleep": "2m"}, {}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	c := newCluster(t, clusterOptions{Postgres: true, Model: m, Env: []string{"FAKEAGENT_SCRIPT=" + script}})
	api := c.client(c.start("serve", "serve", "--workers", "0"))
	var workers []*proc
	for i := range 4 {
		workers = append(workers, c.start(fmt.Sprintf("worker-%d", i+1), "worker", "--concurrency", "1"))
	}

	inWorker := api.submit("DIE-IN-WORKER: write hello.txt", "default")
	inAudit := api.submit("DIE-IN-AUDIT: write hello.txt", "default")
	inCommand := api.submit("DIE-IN-COMMAND: write hello.txt", "command")
	m.waitCall(t, inWorker.ID, "worker", 1, 30*time.Second)
	m.waitCall(t, inAudit.ID, "auditor", 1, 30*time.Second)
	a := api.waitTask(inWorker.ID, 10*time.Second, "worker_running", func(tk task) bool { return tk.State == "worker_running" })
	b := api.waitTask(inAudit.ID, 10*time.Second, "auditor_running", func(tk task) bool { return tk.State == "auditor_running" })
	cmd := api.waitTask(inCommand.ID, 30*time.Second, "its command agent to run", func(tk task) bool {
		return tk.State == "worker_running" && tk.Agent != nil && tk.Agent.PID > 0
	})
	orphan := cmd.Agent.PID
	t.Cleanup(func() {
		if alive(orphan) {
			_ = syscall.Kill(-orphan, syscall.SIGKILL)
		}
	})
	victims := map[string]*proc{}
	for _, tk := range []task{a, b, cmd} {
		p := procByWorker(t, tk.WorkerID, workers...)
		if victims[p.name] != nil {
			t.Fatalf("two tasks run on %s, which has one slot", p.name)
		}
		victims[p.name] = p
	}
	var survivor *proc
	for _, w := range workers {
		if victims[w.name] == nil {
			survivor = w
		}
	}

	killed := time.Now()
	for _, v := range victims {
		v.signal(syscall.SIGKILL)
	}
	for _, v := range victims {
		if _, ok := v.wait(10 * time.Second); !ok {
			t.Fatalf("%s still runs 10s after SIGKILL", v.name)
		}
	}

	slack := 20 * time.Second // the rescue sweep interval, a heartbeat, a loaded machine
	for _, tc := range []struct {
		id                  string
		workerCalls, audits int // model calls; -1: not a model task
		phase               string
	}{
		{inWorker.ID, 2, 1, "worker phase"},
		{inAudit.ID, 1, 2, "audit"},
		{inCommand.ID, -1, -1, "command agent's worker phase"},
	} {
		done := api.waitFinal(tc.id, rescueAfter+slack)
		t.Logf("killed in the %s: %s %s on %s, finished %s after the SIGKILL (rescue_after %s)", tc.phase, tc.id, done.State, done.WorkerID, done.finishedAfter(killed), rescueAfter)
		if done.State != "completed" || done.Attempts != 2 || len(done.Iterations) != 1 {
			t.Errorf("%s: state %q (%s), attempts %d, %d iterations; want completed, 2, 1", tc.phase, done.State, done.Error, done.Attempts, len(done.Iterations))
		}
		if done.WorkerID != survivor.workerID {
			t.Errorf("%s: finished by %q, want the survivor %s (%s)", tc.phase, done.WorkerID, survivor.name, survivor.workerID)
		}
		if tc.workerCalls >= 0 {
			if w, au := m.count(tc.id, "worker"), m.count(tc.id, "auditor"); w != tc.workerCalls || au != tc.audits {
				t.Errorf("%s: model calls worker %d, auditor %d; want %d and %d", tc.phase, w, au, tc.workerCalls, tc.audits)
			}
		}
		if r := resultsByRole(api.events(tc.id)); r["worker"] != 1 || r["auditor"] != 1 {
			t.Errorf("%s: result events by role %v, want one worker and one auditor result", tc.phase, r)
		}
	}
	if n := metricValue(t, scrape(t, survivor), "oneshot_jobs_rescued_total"); n != 3 {
		t.Errorf("the survivor's oneshot_jobs_rescued_total is %v, want 3", n)
	}
	// Nothing stops the agent of a worker that was SIGKILLed: it runs on, orphaned,
	// until its own timeouts. (In a container it dies with the worker.)
	t.Logf("the dead worker's command agent (pid %d) still runs after the rescue: %v", orphan, alive(orphan))
}

// TestChaosWorkerPaused freezes a worker (SIGSTOP, as a long GC pause or a network
// partition would) while its command agent runs, until another worker has rescued and
// finished the task; then lets it go on (SIGCONT). Meanwhile the frozen worker's agent
// — a process of its own, not frozen — printed a burst of progress lines. The stale
// attempt must be fenced off: it changes nothing about the finished task (state,
// result, iterations, activity), and its worker process carries on serving.
func TestChaosWorkerPaused(t *testing.T) {
	t.Parallel()
	// The first agent run waits, prints ~100 lines on stderr and answers; later runs
	// (the rescued attempt's worker and auditor) answer at once.
	script := filepath.Join(t.TempDir(), "script.json")
	steps := `{"steps": [{"sleep": "2s", "behaviour": "flood:20000", "answer": "stale answer of the frozen worker"}, {}]}`
	if err := os.WriteFile(script, []byte(steps), 0o600); err != nil {
		t.Fatal(err)
	}
	c := newCluster(t, clusterOptions{Postgres: true, Env: []string{"FAKEAGENT_SCRIPT=" + script}})
	api := c.client(c.start("serve", "serve", "--workers", "0"))
	workers := []*proc{
		c.start("worker-1", "worker", "--concurrency", "1"),
		c.start("worker-2", "worker", "--concurrency", "1"),
	}

	tk := api.submit("Write hello.txt", "command")
	running := api.waitTask(tk.ID, 30*time.Second, "its agent to run", func(tk task) bool {
		return tk.State == "worker_running" && tk.Agent != nil && tk.Agent.PID > 0
	})
	frozen := procByWorker(t, running.WorkerID, workers...)
	other := workers[0]
	if other == frozen {
		other = workers[1]
	}
	frozen.signal(syscall.SIGSTOP)
	stopped := time.Now()
	t.Cleanup(func() { _ = frozen.cmd.Process.Signal(syscall.SIGCONT) }) // so that cleanup can stop it

	done := api.waitFinal(tk.ID, rescueAfter+20*time.Second)
	t.Logf("task %s on %s, finished %s after the worker froze", done.State, done.WorkerID, done.finishedAfter(stopped))
	const want = "fake answer"
	if done.State != "completed" || done.Attempts != 2 || done.WorkerID != other.workerID || strings.TrimSpace(done.Result) != want {
		t.Fatalf("task: state %q (%s), attempts %d, worker %q, result %q; want completed, 2, %s, %q",
			done.State, done.Error, done.Attempts, done.WorkerID, done.Result, other.workerID, want)
	}
	// The run's last events may be stored a moment after its final checkpoint.
	var before []event
	eventually(t, 10*time.Second, "the task's events up to its last_event_seq", func() bool {
		before = api.events(tk.ID)
		return len(before) > 0 && before[len(before)-1].Seq >= done.LastEventSeq
	})

	frozen.signal(syscall.SIGCONT)
	if _, ok := frozen.logs.waitFor(30*time.Second, frozen.done, func(l logLine) bool {
		return strings.Contains(l.Msg, "another attempt took the task over")
	}); !ok {
		t.Errorf("%s did not log that its attempt was fenced off within 30s of SIGCONT", frozen.name)
	}
	time.Sleep(2 * time.Second) // whatever the stale attempt still writes, let it land

	after := api.get(tk.ID)
	if after.State != "completed" || after.Attempts != 2 || after.WorkerID != other.workerID || after.Result != done.Result ||
		len(after.Iterations) != 1 || after.Iterations[0].WorkerResult != done.Result || after.LastEventSeq != done.LastEventSeq {
		t.Errorf("the stale attempt changed the finished task: state %q, attempts %d, worker %q, result %q, %d iterations, last_event_seq %d (was %d)",
			after.State, after.Attempts, after.WorkerID, after.Result, len(after.Iterations), after.LastEventSeq, done.LastEventSeq)
	}
	// The activity must still end with the task's final state: nothing of the fenced
	// attempt after it.
	evs := api.events(tk.ID)
	if added := len(evs) - len(before); added != 0 {
		t.Logf("%d events were stored after the task completed (the fenced attempt's)", added)
	}
	var late []event
	for _, e := range evs {
		if e.Seq > done.LastEventSeq {
			late = append(late, e)
		}
	}
	if len(late) > 0 {
		t.Errorf("the fenced attempt appended %d events after the finished task's last event (seq %d), e.g. seq %d %s %s %.60q; "+
			"the activity of a completed task should end with its final state",
			len(late), done.LastEventSeq, late[0].Seq, late[0].Role, late[0].Type, late[0].Text)
	}
	for _, e := range evs {
		if e.Type == "result" && strings.Contains(e.Text, "stale answer") {
			t.Errorf("the fenced attempt's answer is a result event of the task: seq %d", e.Seq)
		}
	}
	if frozen.exited() || frozen.readyz() != http.StatusOK {
		t.Errorf("%s is not serving after SIGCONT (exited %v)", frozen.name, frozen.exited())
	}
	next := api.submit("Write world.txt", "command")
	if d := api.waitFinal(next.ID, 30*time.Second); d.State != "completed" || d.Attempts != 1 {
		t.Errorf("a task after the pause: state %q, attempts %d; want completed, 1", d.State, d.Attempts)
	}
}

// TestChaosProcessPaused pauses a whole `serve` with its in-process workers (SIGSTOP for
// longer than rescue_after, as a suspended laptop or VM would) while it runs a task, then
// resumes it. Nobody else could take the task, so it must simply carry on: the process
// must not take its own running task for abandoned (its own heartbeats stopped during
// the pause too) and run it a second time.
func TestChaosProcessPaused(t *testing.T) {
	t.Parallel()
	m := newModel(t, func(c call) (fakeopenai.Reply, bool) {
		if c.Role == "worker" { // about 10s: the pause falls inside it
			return fakeopenai.Reply{Content: "fake answer for " + c.Task, ChunkDelay: 2 * time.Second}, true
		}
		return fakeopenai.Reply{}, false
	})
	c := newCluster(t, clusterOptions{Model: m})
	srv := c.start("serve", "serve", "--workers", "2")
	api := c.client(srv)
	// The reaper acts only after its own process has been healthy for rescue_after.
	time.Sleep(rescueAfter + time.Second)

	tk := api.submit("Write hello.txt", "default")
	m.waitCall(t, tk.ID, "worker", 1, 30*time.Second)
	srv.signal(syscall.SIGSTOP)
	t.Cleanup(func() { _ = srv.cmd.Process.Signal(syscall.SIGCONT) }) // so that cleanup can stop it
	time.Sleep(rescueAfter + 6*time.Second)                           // its heartbeat is now older than rescue_after
	srv.signal(syscall.SIGCONT)

	done := api.waitFinal(tk.ID, 60*time.Second)
	t.Logf("after the pause: %s, attempts %d, model calls worker %d auditor %d", done.State, done.Attempts, m.count(tk.ID, "worker"), m.count(tk.ID, "auditor"))
	if done.State != "completed" || done.Attempts != 1 || m.count(tk.ID, "worker") != 1 || m.count(tk.ID, "auditor") != 1 {
		t.Errorf("task: state %q (%s), attempts %d, model calls worker %d auditor %d; want completed, 1 attempt, one call each",
			done.State, done.Error, done.Attempts, m.count(tk.ID, "worker"), m.count(tk.ID, "auditor"))
	}
	if l, ok := srv.logs.find(func(l logLine) bool {
		return strings.Contains(l.Msg, "released tasks of workers that stopped heartbeating")
	}); ok {
		t.Errorf("the resumed process took its own task for abandoned: %s", l.Text)
	}
}

// TestChaosWorkerTerminated SIGTERMs a worker process that runs two tasks: one whose
// worker phase ends within the drain, one whose agent hangs. The process stops taking
// work, reports not ready, checkpoints and releases both, and exits 0 within
// drain_timeout; another worker finishes both tasks, each exactly once (the finished
// worker phase is not run again).
func TestChaosWorkerTerminated(t *testing.T) {
	t.Parallel()
	m := newModel(t, func(c call) (fakeopenai.Reply, bool) {
		if c.Role != "worker" || c.N != 1 {
			return fakeopenai.Reply{}, false
		}
		switch {
		case strings.Contains(c.Prompt, "SHORT"): // about 2.5s: well within the drain
			return fakeopenai.Reply{Content: "fake answer for " + c.Task, ChunkDelay: 500 * time.Millisecond}, true
		case strings.Contains(c.Prompt, "LONG"): // until its worker lets go
			return fakeopenai.Reply{Hang: true}, true
		}
		return fakeopenai.Reply{}, false
	})
	const drain = 10 * time.Second // defaultConfig's drain_timeout
	c := newCluster(t, clusterOptions{Postgres: true, Model: m})
	api := c.client(c.start("serve", "serve", "--workers", "0"))
	victim := c.start("worker-1", "worker", "--concurrency", "2")

	long := api.submit("LONG: refactor everything", "default")
	short := api.submit("SHORT: write hello.txt", "default")
	m.waitCall(t, long.ID, "worker", 1, 30*time.Second)
	m.waitCall(t, short.ID, "worker", 1, 30*time.Second)
	other := c.start("worker-2", "worker", "--concurrency", "2")

	terminated := time.Now()
	victim.signal(syscall.SIGTERM)
	sawNotReady := false
	for !victim.exited() && time.Since(terminated) < drain {
		if code, r := victim.readiness(); code == http.StatusServiceUnavailable {
			sawNotReady = true
			checkNotReady(t, victim, r)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	code, ok := victim.wait(drain + 5*time.Second)
	took := time.Since(terminated)
	if !ok {
		t.Fatalf("%s still runs %s after SIGTERM (drain_timeout %s)", victim.name, took.Round(time.Millisecond), drain)
	}
	t.Logf("SIGTERM → exit %d after %s (drain_timeout %s)", code, took.Round(time.Millisecond), drain)
	if code != 0 {
		t.Errorf("%s exited %d after SIGTERM, want 0", victim.name, code)
	}
	if took > drain+time.Second {
		t.Errorf("%s took %s to exit, more than drain_timeout %s", victim.name, took.Round(time.Millisecond), drain)
	}
	if !sawNotReady {
		t.Errorf("%s never answered /readyz with 503 while draining", victim.name)
	}
	if _, ok := victim.logs.find(func(l logLine) bool { return strings.Contains(l.Msg, "released unfinished tasks") }); !ok {
		t.Errorf("%s did not log that it released the hanging task at the drain deadline", victim.name)
	}

	for _, tc := range []struct {
		id          string
		what        string
		workerCalls int
	}{
		{short.ID, "worker phase finished during the drain", 1},
		{long.ID, "agent hung through the drain", 2},
	} {
		done := api.waitFinal(tc.id, 60*time.Second)
		t.Logf("%s: %s on %s, attempts %d, finished %s after the SIGTERM", tc.what, done.State, done.WorkerID, done.Attempts, done.finishedAfter(terminated))
		if done.State != "completed" || len(done.Iterations) != 1 || done.Attempts != 2 {
			t.Errorf("%s: state %q (%s), %d iterations, attempts %d; want completed, 1, 2", tc.what, done.State, done.Error, len(done.Iterations), done.Attempts)
		}
		if done.WorkerID != other.workerID {
			t.Errorf("%s: finished by %q, want %s", tc.what, done.WorkerID, other.workerID)
		}
		if w, a := m.count(tc.id, "worker"), m.count(tc.id, "auditor"); w != tc.workerCalls || a != 1 {
			t.Errorf("%s: model calls worker %d, auditor %d; want %d and 1", tc.what, w, a, tc.workerCalls)
		}
		if r := resultsByRole(api.events(tc.id)); r["worker"] != 1 || r["auditor"] != 1 {
			t.Errorf("%s: result events by role %v, want one worker and one auditor result", tc.what, r)
		}
	}
	// The drained worker unregistered itself: only the other one counts as alive.
	if st := api.status(); st.WorkersAlive != 1 || len(st.Workers) != 1 || st.Workers[0].ID != other.workerID {
		t.Errorf("status after the drain: workers_alive %d, workers %+v; want only %s", st.WorkersAlive, st.Workers, other.workerID)
	}
}

// TestChaosPostgresRestart restarts PostgreSQL (a private server, so that the other
// suites sharing ONESHOT_TEST_DATABASE_URL are not disturbed) while tasks run: /readyz
// of the API and the worker goes 503 during the outage and back to 200 after it, with
// no restart of either process, and the tasks submitted before and after all complete,
// each exactly once.
func TestChaosPostgresRestart(t *testing.T) {
	t.Parallel()
	pg := privatePostgres(t)
	m := newModel(t, func(c call) (fakeopenai.Reply, bool) {
		if strings.Contains(c.Prompt, "SLOW") && c.Role == "worker" { // about 2.5s: it ends during the outage
			return fakeopenai.Reply{Content: "fake answer for " + c.Task, ChunkDelay: 500 * time.Millisecond}, true
		}
		return fakeopenai.Reply{}, false
	})
	c := newCluster(t, clusterOptions{DatabaseURL: pg.url, Model: m})
	srv := c.start("serve", "serve", "--workers", "0")
	api := c.client(srv)
	worker := c.start("worker", "worker", "--concurrency", "2")

	var ids []string
	for _, p := range []string{"SLOW: first", "SLOW: second", "queued behind the slow ones", "also queued"} {
		ids = append(ids, api.submit(p, "default").ID)
	}
	m.waitCall(t, ids[0], "worker", 1, 30*time.Second)
	m.waitCall(t, ids[1], "worker", 1, 30*time.Second)
	// A client follows one of the running tasks across the outage.
	type streamed struct {
		evs []event
		end sseEnd
		err error
	}
	followed, connected := make(chan streamed, 1), make(chan struct{})
	go func() {
		evs, end, err := api.tryStream(ids[0], 2*time.Minute, connected)
		followed <- streamed{evs, end, err}
	}()
	select {
	case <-connected:
	case s := <-followed:
		t.Fatalf("following task %s: %v", ids[0], s.err)
	}

	const down = 4 * time.Second
	restarted := pg.restart(down)
	outage := time.Now()
	notReady := map[*proc]time.Duration{}
	for done := false; !done; {
		for _, p := range []*proc{srv, worker} {
			if _, seen := notReady[p]; seen {
				continue
			}
			if code, r := p.readiness(); code == http.StatusServiceUnavailable {
				notReady[p] = time.Since(outage)
				checkNotReady(t, p, r)
			}
		}
		select {
		case err := <-restarted:
			if err != nil {
				t.Fatal(err)
			}
			done = true
			t.Logf("PostgreSQL back up %s after the restart began", time.Since(outage).Round(time.Millisecond))
		case <-time.After(50 * time.Millisecond):
		}
	}
	for _, p := range []*proc{srv, worker} {
		if d, ok := notReady[p]; ok {
			t.Logf("%s: /readyz 503 %s into the outage", p.name, d.Round(time.Millisecond))
		} else {
			t.Errorf("%s never answered /readyz with 503 while PostgreSQL was down", p.name)
		}
	}
	for _, p := range []*proc{srv, worker} {
		eventually(t, 60*time.Second, p.name+" to be ready again", func() bool { return p.readyz() == http.StatusOK })
		if p.exited() {
			t.Fatalf("%s exited during the outage: %v", p.name, p.state)
		}
	}
	t.Logf("both processes ready again %s after the restart began", time.Since(outage).Round(time.Millisecond))

	for _, p := range []string{"submitted after the restart", "SLOW: also after the restart"} {
		ids = append(ids, api.submit(p, "default").ID)
	}
	for _, id := range ids {
		done := api.waitFinal(id, 90*time.Second)
		if done.State != "completed" || len(done.Iterations) != 1 || done.Attempts != 1 {
			t.Errorf("task %s: state %q (%s), %d iterations, attempts %d; want completed, 1, 1", id, done.State, done.Error, len(done.Iterations), done.Attempts)
		}
		if w, a := m.count(id, "worker"), m.count(id, "auditor"); w != 1 || a != 1 {
			t.Errorf("task %s: model calls worker %d, auditor %d; want 1 each", id, w, a)
		}
		if r := resultsByRole(api.events(id)); r["worker"] != 1 || r["auditor"] != 1 {
			t.Errorf("task %s: result events by role %v, want one worker and one auditor result", id, r)
		}
	}
	t.Logf("all %d tasks completed %s after the restart began", len(ids), time.Since(outage).Round(time.Millisecond))
	select {
	case s := <-followed:
		if s.err != nil {
			t.Errorf("the event stream opened before the outage: %v", s.err)
		} else if r := resultsByRole(s.evs); s.end.State != "completed" || r["worker"] != 1 || r["auditor"] != 1 {
			t.Errorf("the event stream opened before the outage ended %q with results %v; want completed with one result of each role", s.end.State, r)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("the event stream opened before the outage did not end within 30s of its task")
	}
	for _, p := range []*proc{srv, worker} {
		if p.exited() {
			t.Errorf("%s exited: %v", p.name, p.state)
		}
	}
}

// postgresServer is a throwaway PostgreSQL server of one test, started and restarted
// with scripts/test-postgres.sh.
type postgresServer struct {
	t     *testing.T
	state string // the script's state file
	url   string
}

var exportURL = regexp.MustCompile(`ONESHOT_TEST_DATABASE_URL='([^']+)'`)

// privatePostgres starts a PostgreSQL server for the test alone. Like the other
// PostgreSQL tests it needs ONESHOT_TEST_DATABASE_URL (which says PostgreSQL is
// available here); it skips when the script cannot start a server.
func privatePostgres(t *testing.T) *postgresServer {
	t.Helper()
	storetest.Postgres(t) // skips without ONESHOT_TEST_DATABASE_URL
	s := &postgresServer{t: t, state: filepath.Join(t.TempDir(), "postgres.env")}
	out, err := s.script("start").Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Skipf("cannot start a private PostgreSQL server for the restart test: %v\n%s", err, stderr)
	}
	t.Cleanup(func() {
		if out, err := s.script("stop").CombinedOutput(); err != nil {
			t.Errorf("stop the private PostgreSQL server: %v\n%s", err, out)
		}
	})
	m := exportURL.FindSubmatch(out)
	if m == nil {
		t.Fatalf("test-postgres.sh start printed %q, want an export line", out)
	}
	s.url = string(m[1])
	return s
}

func (s *postgresServer) script(args ...string) *exec.Cmd {
	cmd := exec.Command("bash", append([]string{filepath.Join(moduleRoot(), "scripts", "test-postgres.sh")}, args...)...)
	cmd.Env = append(os.Environ(), "ONESHOT_TEST_POSTGRES_STATE="+s.state)
	return cmd
}

// restart begins `test-postgres.sh restart`: the server stops at once (open
// connections are cut) and comes back after down. The channel gets the script's
// outcome when the server is up again.
func (s *postgresServer) restart(down time.Duration) <-chan error {
	cmd := s.script("restart", strconv.FormatFloat(down.Seconds(), 'f', -1, 64))
	done := make(chan error, 1)
	go func() {
		out, err := cmd.CombinedOutput()
		if err != nil {
			err = fmt.Errorf("test-postgres.sh restart: %w\n%s", err, out)
		}
		done <- err
	}()
	return done
}
