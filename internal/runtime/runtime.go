// Package runtime runs the service's tasks: a River worker that drives the worker→auditor
// loop of each task it is handed, with everything a fleet of worker processes needs
// around it.
//
//   - Fencing and attempts: every start of a task is an attempt recorded in the store
//     (StartAttempt); checkpoints and activity events of an older attempt are refused
//     (ErrFenced, AppendEvents' fenced batches), so a worker that was given up for dead
//     can never overwrite its successor's work or add to its activity. Such an attempt's
//     loop is stopped as soon as it learns of it (a refused event batch, the task's
//     attempt counter seen moved on, a refused checkpoint) and its agent is killed. A
//     task whose worker died MaxAttempts times is failed with the reason.
//   - Liveness: each process heartbeats every few seconds; every process also runs a
//     reaper that makes the tasks of processes that stopped heartbeating for RescueAfter
//     available again at once (River's own stuck-job rescue is age-based, so it is kept
//     only as a far-away backstop). See docs/architecture.md.
//   - Cancellation: a cancel request (store flag, or River's job cancel) stops the loop
//     with loop.ErrCancelled; the agent's process group is killed within seconds.
//   - Drain: Shutdown stops fetching, lets running tasks finish their current phase,
//     releases what cannot finish by the drain deadline (checkpoint kept, job made
//     available again at once for another worker) and returns before the deadline.
//   - Events are written to the store in batches (EventWriter); metrics and a CloudWatch
//     EMF line with the queue figures are published.
package runtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riverqueue/river"
	"go.opentelemetry.io/otel/trace"

	"github.com/oneshot-run/oneshot/internal/config"
	"github.com/oneshot-run/oneshot/internal/executor"
	"github.com/oneshot-run/oneshot/internal/metrics"
	"github.com/oneshot-run/oneshot/internal/store"
)

// Backend is what a Runtime needs of the store; store.Backend satisfies it.
type Backend interface {
	store.Store
	NewQueue(cfg river.Config) (store.Queue, error)
	// RescueTasks makes the tasks of workers silent for longer than deadAfter available
	// again and returns how many it released (see store's rescue.go).
	RescueTasks(ctx context.Context, deadAfter time.Duration) (int, error)
	// RemoveWorker forgets a worker that stopped cleanly.
	RemoveWorker(ctx context.Context, id string) error
}

// Options configure a Runtime. Only Config is required.
type Options struct {
	Config  *config.Config
	Logger  *slog.Logger
	Metrics *metrics.Metrics

	// WorkerID names this process in heartbeats, task records and River's attempted_by.
	// It must be unique among running processes; the default is host-pid-random.
	WorkerID string
	// Slots is how many tasks this process runs at once (default Config.Workers).
	Slots int

	// WorkspaceDir is where per-task workspaces are created (default os.TempDir()).
	WorkspaceDir string
	// CloneTimeout bounds a task's git clone (default 5m).
	CloneTimeout time.Duration

	// HeartbeatInterval defaults to store.HeartbeatInterval (5s).
	HeartbeatInterval time.Duration
	// RescueInterval is how often the reaper looks for dead workers' tasks (default
	// RescueAfter/4, between 1s and 15s).
	RescueInterval time.Duration
	// CancelKillAfter is how long a cancelled or released agent gets to exit after its
	// context is cancelled before the runtime SIGKILLs its process group itself
	// (default 2s), so a cancel takes effect within 5s even if the agent ignores SIGTERM.
	CancelKillAfter time.Duration
	// DrainMargin is the part of the drain deadline kept for releasing unfinished tasks
	// (default: a third of the drain timeout, at most 10s).
	DrainMargin time.Duration

	// EMFInterval is how often the EMF line is printed when Config.EMFNamespace is set
	// (default Config.EMFInterval, else 60s); EMFOutput defaults to os.Stdout;
	// Environment is its dimension (default $ONESHOT_ENVIRONMENT, else "local").
	EMFInterval time.Duration
	EMFOutput   io.Writer
	Environment string

	// Events tunes the batching event writer.
	Events EventWriterOptions

	// FetchCooldown is River's minimum time between two fetches (default 5ms: low
	// submit→start latency; River's own default is 100ms).
	FetchCooldown time.Duration
	// FetchPollInterval overrides the store's default River poll interval.
	FetchPollInterval time.Duration

	// TracerProvider records spans (see trace.go); nil records none.
	TracerProvider trace.TracerProvider

	// Getenv reads API keys (default os.Getenv).
	Getenv func(string) string
	// NewExecutor builds agents (default executor.New).
	NewExecutor func(executor.Spec) (executor.Executor, error)
	// Now defaults to time.Now.
	Now func() time.Time
}

// Runtime runs tasks from the queue. Start it once, then Shutdown it.
type Runtime struct {
	backend Backend
	opts    Options
	cfg     *config.Config
	log     *slog.Logger
	metrics *metrics.Metrics
	tracer  trace.Tracer
	host    string

	queue  store.Queue
	events *EventWriter

	draining atomic.Bool
	drainCh  chan struct{} // closed when a drain starts
	running  atomic.Int64
	// healthySince is when this process's heartbeats last started succeeding without a
	// failure or a gap since (unix nanoseconds); the reaper waits for RescueAfter of it.
	healthySince atomic.Int64
	// lastBeat is when this process's last heartbeat succeeded (unix nanoseconds).
	lastBeat atomic.Int64

	mu    sync.Mutex
	tasks map[int64]*taskRun // by River job id

	bgCancel context.CancelFunc
	bgWG     sync.WaitGroup
	started  atomic.Bool
	stopOnce sync.Once
}

// New prepares a runtime on b. It does not start working: call Start.
func New(b Backend, o Options) (*Runtime, error) {
	if o.Config == nil {
		return nil, errors.New("runtime: no configuration given")
	}
	cfg := o.Config
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	host, _ := os.Hostname()
	if o.WorkerID == "" {
		o.WorkerID = newWorkerID(host)
	}
	if o.Slots <= 0 {
		o.Slots = cfg.Workers
	}
	if o.Slots <= 0 {
		return nil, errors.New("runtime: no task slots: set workers (or --concurrency) to 1 or more, or run without a runtime (API only)")
	}
	if o.HeartbeatInterval <= 0 {
		o.HeartbeatInterval = store.HeartbeatInterval
	}
	rescueAfter := cfg.RescueAfter
	if rescueAfter <= 0 {
		rescueAfter = time.Minute
	}
	if rescueAfter < 2*o.HeartbeatInterval {
		return nil, fmt.Errorf("runtime: rescue_after (%s) must be at least twice the heartbeat interval (%s), or live workers would be rescued", rescueAfter, o.HeartbeatInterval)
	}
	if o.RescueInterval <= 0 {
		o.RescueInterval = min(max(rescueAfter/4, time.Second), 15*time.Second)
	}
	if o.CancelKillAfter <= 0 {
		o.CancelKillAfter = 2 * time.Second
	}
	if o.EMFInterval <= 0 {
		o.EMFInterval = cfg.EMFInterval
	}
	if o.EMFInterval <= 0 {
		o.EMFInterval = time.Minute
	}
	if o.EMFOutput == nil {
		o.EMFOutput = os.Stdout
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Environment == "" {
		o.Environment = o.Getenv("ONESHOT_ENVIRONMENT")
	}
	if o.Environment == "" {
		o.Environment = "local"
	}
	if o.NewExecutor == nil {
		o.NewExecutor = executor.New
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.FetchCooldown <= 0 {
		o.FetchCooldown = 5 * time.Millisecond
	}
	o.Logger = o.Logger.With("worker_id", o.WorkerID)
	if o.Events.Logger == nil {
		o.Events.Logger = o.Logger
	}
	if o.Events.Metrics == nil {
		o.Events.Metrics = o.Metrics
	}
	r := &Runtime{
		backend: b, opts: o, cfg: cfg, log: o.Logger, metrics: o.Metrics, host: host,
		tracer:  newTracer(o.TracerProvider),
		drainCh: make(chan struct{}),
		tasks:   map[int64]*taskRun{},
	}
	r.cfg.RescueAfter = rescueAfter

	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &TaskWorker{rt: r}); err != nil {
		return nil, fmt.Errorf("runtime: register the task worker: %w", err)
	}
	q, err := b.NewQueue(river.Config{
		ID:     o.WorkerID,
		Logger: o.Logger.With("component", "river"),
		Queues: map[string]river.QueueConfig{
			store.TaskQueue: {MaxWorkers: o.Slots},
		},
		Workers: workers,
		// A task runs as long as its loop needs; its agents have their own timeouts.
		JobTimeout:           -1,
		RescueStuckJobsAfter: backstopRescueAfter(cfg),
		FetchCooldown:        o.FetchCooldown,
		FetchPollInterval:    o.FetchPollInterval,
	})
	if err != nil {
		return nil, fmt.Errorf("runtime: create the queue client: %w", err)
	}
	r.queue = q
	return r, nil
}

// backstopRescueAfter is River's own stuck-job rescue, kept far beyond the longest
// possible task (every iteration's worker and auditor running to the maximum timeout)
// so that it only ever catches what the heartbeat reaper somehow missed.
func backstopRescueAfter(cfg *config.Config) time.Duration {
	maxTimeout := cfg.MaxTimeout
	if maxTimeout <= 0 {
		maxTimeout = executor.DefaultMaxTimeout
	}
	iterations := max(cfg.MaxIterationsCap, cfg.MaxIterations, 1)
	return maxTimeout*2*time.Duration(iterations) + time.Hour
}

// WorkerID is the id this process runs tasks under.
func (r *Runtime) WorkerID() string { return r.opts.WorkerID }

// Draining reports whether Shutdown has begun: the process takes no new tasks, and
// readiness should report false.
func (r *Runtime) Draining() bool { return r.draining.Load() }

// Running is how many tasks this process runs now.
func (r *Runtime) Running() int { return int(r.running.Load()) }

// Start registers the process (first heartbeat), starts the queue client and the
// heartbeat, reaper and EMF loops. ctx bounds the start only: the runtime keeps running,
// and heartbeating, until Shutdown, so that a SIGTERM that cancels the caller's context
// does not make the draining process look dead while it finishes its tasks.
func (r *Runtime) Start(ctx context.Context) error {
	if !r.started.CompareAndSwap(false, true) {
		return errors.New("runtime: already started")
	}
	if err := r.heartbeat(ctx); err != nil {
		return fmt.Errorf("runtime: first heartbeat: %w", err)
	}
	r.events = NewEventWriter(r.backend, r.opts.Events)
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.bgCancel = cancel
	// River stops (and cancels its jobs) when its Start context ends, so it too gets a
	// context only Shutdown ends.
	if err := r.queue.Start(context.WithoutCancel(ctx)); err != nil {
		cancel()
		_ = r.events.Close(ctx)
		_ = r.backend.RemoveWorker(ctx, r.opts.WorkerID)
		return fmt.Errorf("runtime: start the queue client: %w", err)
	}
	r.every(bg, r.opts.HeartbeatInterval, "heartbeat", r.heartbeat)
	r.every(bg, r.opts.RescueInterval, "rescue", r.rescue)
	if r.cfg.EMFNamespace != "" {
		r.every(bg, r.opts.EMFInterval, "emf", r.emitEMF)
	}
	r.log.Info("worker started", "slots", r.opts.Slots, "rescue_after", r.cfg.RescueAfter.String())
	return nil
}

// every runs f every interval until ctx ends; errors are logged.
func (r *Runtime) every(ctx context.Context, interval time.Duration, name string, f func(context.Context) error) {
	r.bgWG.Add(1)
	go func() {
		defer r.bgWG.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			callCtx, cancel := context.WithTimeout(ctx, max(interval, 5*time.Second))
			err := f(callCtx)
			cancel()
			if err != nil && ctx.Err() == nil {
				r.log.Warn(name+" failed; retrying at the next interval", "error", err)
			}
		}
	}()
}

func (r *Runtime) heartbeat(ctx context.Context) error {
	err := r.backend.Heartbeat(ctx, store.Worker{
		ID: r.opts.WorkerID, Host: r.host, Slots: r.opts.Slots,
		Running: r.Running(), Draining: r.Draining(),
	})
	if err != nil {
		r.healthySince.Store(0)
		return err
	}
	now := r.opts.Now()
	last := r.lastBeat.Swap(now.UnixNano())
	// A gap in the heartbeats (the process was paused: a suspended laptop or VM, SIGSTOP;
	// or cut off from the database) looked to everyone like a death, as a failure would:
	// the wait starts again.
	gap := last != 0 && now.Sub(time.Unix(0, last)) > r.aliveFor()
	if r.healthySince.Load() == 0 || gap {
		r.healthySince.Store(now.UnixNano())
	}
	if gap {
		// Meanwhile another worker may have taken this process's tasks over: have each
		// running task check at once rather than at its next event or checkpoint.
		r.recheckTasks()
	}
	return nil
}

// recheckTasks asks the watcher of every running task to read the task again.
func (r *Runtime) recheckTasks() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range r.tasks {
		select {
		case t.recheck <- struct{}{}:
		default:
		}
	}
}

// aliveFor is how long after its last heartbeat a process still counts as alive:
// three missed heartbeats, as store.WorkerTimeout.
func (r *Runtime) aliveFor() time.Duration { return 3 * r.opts.HeartbeatInterval }

// rescue releases the tasks of workers silent for RescueAfter. It only acts once this
// process itself has heartbeated without a failure for RescueAfter: after a database
// outage every worker's heartbeats were missing, and the live ones must get the time to
// heartbeat again before anyone is taken for dead. (A rescue in error is still safe —
// the old attempt is fenced off — but it runs an agent twice.)
func (r *Runtime) rescue(ctx context.Context) error {
	// The last heartbeat must be recent too: right after a pause this process's own
	// heartbeat may not have run yet, and its own running tasks would look abandoned.
	since, now := r.healthySince.Load(), r.opts.Now()
	if since == 0 || now.Sub(time.Unix(0, since)) < r.cfg.RescueAfter || now.Sub(time.Unix(0, r.lastBeat.Load())) > r.aliveFor() {
		return nil
	}
	n, err := r.backend.RescueTasks(ctx, r.cfg.RescueAfter)
	if err != nil {
		return fmt.Errorf("release the tasks of dead workers: %w", err)
	}
	if n > 0 {
		r.log.Warn("released tasks of workers that stopped heartbeating", "tasks", n, "silent_for", r.cfg.RescueAfter.String())
		r.metrics.JobsRescued(n)
	}
	return nil
}

func (r *Runtime) emitEMF(ctx context.Context) error {
	st, err := r.backend.Status(ctx)
	if err != nil {
		return fmt.Errorf("read queue status for EMF: %w", err)
	}
	return writeEMF(r.opts.EMFOutput, r.cfg.EMFNamespace, r.opts.Environment, st, r.opts.Now())
}

// Shutdown drains the process: it stops taking tasks at once, lets running tasks finish
// their current phase, and releases the rest for another worker (checkpoint kept, job
// available again at once) shortly before the deadline. The deadline is ctx's, or
// Config.DrainTimeout from now when ctx has none. It returns before the deadline, with
// an error when something could not be stopped cleanly.
func (r *Runtime) Shutdown(ctx context.Context) error {
	var err error
	r.stopOnce.Do(func() { err = r.shutdown(ctx) })
	return err
}

func (r *Runtime) shutdown(ctx context.Context) error {
	start := r.opts.Now()
	deadline, ok := ctx.Deadline()
	if !ok {
		timeout := r.cfg.DrainTimeout
		if timeout <= 0 {
			timeout = 90 * time.Second
		}
		deadline = start.Add(timeout)
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	margin := r.opts.DrainMargin
	if margin <= 0 {
		margin = min(deadline.Sub(start)/3, 10*time.Second)
	}
	r.draining.Store(true)
	close(r.drainCh)
	r.log.Info("draining: no new tasks; running tasks finish their current phase", "running", r.Running(), "deadline", deadline.Sub(start).Round(time.Millisecond).String())
	if !r.started.Load() {
		return nil
	}
	hbCtx, hbCancel := context.WithTimeout(ctx, 2*time.Second)
	if err := r.heartbeat(hbCtx); err != nil {
		r.log.Warn("draining heartbeat failed", "error", err)
	}
	hbCancel()

	stopped := make(chan error, 1)
	go func() { stopped <- r.queue.Stop(ctx) }()

	var errs []error
	release := time.NewTimer(max(time.Until(deadline.Add(-margin)), 0))
	defer release.Stop()
	select {
	case err := <-stopped:
		if err != nil {
			errs = append(errs, fmt.Errorf("stop the queue client: %w", err))
		}
	case <-release.C:
		n := r.releaseAll()
		r.log.Warn("drain deadline near: released unfinished tasks for other workers", "tasks", n)
		// Released loops checkpoint and return; then River records them available.
		wait := time.NewTimer(max(time.Until(deadline.Add(-margin/4)), 0))
		select {
		case err := <-stopped:
			if err != nil {
				errs = append(errs, fmt.Errorf("stop the queue client: %w", err))
			}
		case <-wait.C:
			cctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline.Add(-margin/8))
			if err := r.queue.StopAndCancel(cctx); err != nil {
				errs = append(errs, fmt.Errorf("tasks still running at the drain deadline: %w", err))
			}
			cancel()
		}
		wait.Stop()
	}

	r.bgCancel()
	r.bgWG.Wait()
	closeCtx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline.Add(-margin/16))
	if err := r.events.Close(closeCtx); err != nil {
		errs = append(errs, fmt.Errorf("flush activity events: %w", err))
	}
	cancel()
	goneCtx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline.Add(-margin/32))
	if err := r.backend.RemoveWorker(goneCtx, r.opts.WorkerID); err != nil {
		errs = append(errs, fmt.Errorf("unregister worker: %w", err))
	}
	cancel()
	r.log.Info("drained", "took", r.opts.Now().Sub(start).Round(time.Millisecond).String(), "still_running", r.Running())
	return errors.Join(errs...)
}

// releaseAll stops every running task's loop with loop.ErrReleased.
func (r *Runtime) releaseAll() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range r.tasks {
		t.release()
	}
	return len(r.tasks)
}

func newWorkerID(host string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	if host == "" {
		host = "worker"
	}
	return fmt.Sprintf("%s-%d-%s", safeName(host), os.Getpid(), hex.EncodeToString(b))
}
