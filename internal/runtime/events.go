package runtime

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/oneshot-run/oneshot/internal/activity"
	"github.com/oneshot-run/oneshot/internal/metrics"
	"github.com/oneshot-run/oneshot/internal/store"
)

// EventAppender is the part of the store the event writer needs.
type EventAppender interface {
	AppendEvents(ctx context.Context, batches []store.EventBatch) (fenced []store.EventBatch, err error)
}

// EventWriterOptions tune an EventWriter. The zero value takes the defaults.
type EventWriterOptions struct {
	// FlushEvery is the longest an event waits in the batch (default 100ms).
	FlushEvery time.Duration
	// BatchSize flushes a batch as soon as it holds this many events (default 500).
	BatchSize int
	// Buffer is how many events may wait for the writer (default 4 × BatchSize). When it
	// is full, Emit blocks: an agent that prints faster than the store can take it is
	// slowed down rather than allowed to grow memory without bound.
	Buffer int
	// GiveUpAfter is how long one batch is retried while the store refuses it before it
	// is dropped, logged and counted (default 30s). It bounds how long Emit can block.
	GiveUpAfter time.Duration
	Logger      *slog.Logger
	Metrics     *metrics.Metrics
}

// EventWriter is an activity.Sink that stores events in batches: every FlushEvery or
// BatchSize events, whichever comes first, and whenever Flush or Close is called. One
// writer serves every task of a process (AppendEvents takes events of any tasks).
//
// A task attempt writes through its own sink (Attempt), whose events the store takes
// only while that attempt owns the task. When the store refuses them (another attempt
// took the task over: this process was taken for dead), the sink is fenced: its pending
// and later events are dropped and its Fenced channel is closed, which stops the
// attempt's loop. Events emitted on the writer itself are unfenced.
//
// Memory is bounded by Buffer + BatchSize events (each at most activity.MaxText of text):
// when the store is slower than the agents, Emit blocks, which in turn makes the agent
// wait on its output pipe. When the store keeps refusing a batch for GiveUpAfter, that
// batch is dropped (logged and counted in oneshot_events_dropped_total) so that a
// database outage cannot wedge the agents and their cancellation forever; the run's
// checkpoints, which carry the results, are retried separately.
type EventWriter struct {
	store EventAppender
	opts  EventWriterOptions

	in     chan writerItem
	done   chan struct{}
	closed chan struct{}
	once   sync.Once
	mu     sync.RWMutex // held for reading by senders, for writing by Close
	isShut bool
}

type writerItem struct {
	event activity.Event
	owner *AttemptEvents // the attempt that emitted event; nil: unfenced
	flush chan struct{}  // non-nil: a flush request, closed once everything before it is stored
}

// AttemptEvents is the activity.Sink of one attempt at a task (see EventWriter).
type AttemptEvents struct {
	w       *EventWriter
	task    string
	attempt int

	once   sync.Once
	fenced chan struct{}
}

// Attempt returns the sink of attempt at task: its events are stored only while attempt
// is the task's current attempt.
func (w *EventWriter) Attempt(task string, attempt int) *AttemptEvents {
	return &AttemptEvents{w: w, task: task, attempt: attempt, fenced: make(chan struct{})}
}

// Emit queues e (an event of the attempt's task) for storage, blocking while the
// writer's buffer is full. Once the attempt is fenced it drops e.
func (a *AttemptEvents) Emit(e activity.Event) {
	if a.IsFenced() {
		return
	}
	if e.Task == "" {
		e.Task = a.task
	}
	a.w.send(writerItem{event: e, owner: a})
}

// Fenced is closed once the attempt no longer owns its task: the store refused its
// events, or the runtime found out otherwise (fence).
func (a *AttemptEvents) Fenced() <-chan struct{} { return a.fenced }

// IsFenced reports whether Fenced is closed.
func (a *AttemptEvents) IsFenced() bool {
	select {
	case <-a.fenced:
		return true
	default:
		return false
	}
}

// fence marks the attempt as superseded; it reports whether this call did it.
func (a *AttemptEvents) fence() bool {
	did := false
	a.once.Do(func() { close(a.fenced); did = true })
	return did
}

// NewEventWriter starts a writer; Close stops it.
func NewEventWriter(s EventAppender, o EventWriterOptions) *EventWriter {
	if o.FlushEvery <= 0 {
		o.FlushEvery = 100 * time.Millisecond
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 500
	}
	if o.Buffer <= 0 {
		o.Buffer = 4 * o.BatchSize
	}
	if o.GiveUpAfter <= 0 {
		o.GiveUpAfter = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	w := &EventWriter{
		store: s, opts: o,
		in:     make(chan writerItem, o.Buffer),
		done:   make(chan struct{}),
		closed: make(chan struct{}),
	}
	go w.run()
	return w
}

// Emit queues e for storage, unfenced, blocking while the buffer is full. After Close
// it drops e.
func (w *EventWriter) Emit(e activity.Event) { w.send(writerItem{event: e}) }

func (w *EventWriter) send(it writerItem) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.isShut {
		return
	}
	w.in <- it
}

// Flush returns once every event emitted before it is stored (or given up on), or when
// ctx is done.
func (w *EventWriter) Flush(ctx context.Context) error {
	w.mu.RLock()
	if w.isShut {
		w.mu.RUnlock()
		return nil
	}
	done := make(chan struct{})
	select {
	case w.in <- writerItem{flush: done}:
		w.mu.RUnlock()
	case <-ctx.Done():
		w.mu.RUnlock()
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stores what is buffered and stops the writer. Later Emits are dropped.
func (w *EventWriter) Close(ctx context.Context) error {
	w.once.Do(func() {
		w.mu.Lock()
		w.isShut = true
		close(w.in)
		w.mu.Unlock()
	})
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *EventWriter) run() {
	defer close(w.done)
	batch := make([]writerItem, 0, w.opts.BatchSize)
	timer := time.NewTimer(w.opts.FlushEvery)
	timer.Stop()
	timerOn := false
	flush := func() {
		if timerOn {
			timer.Stop()
			timerOn = false
		}
		if len(batch) == 0 {
			return
		}
		w.storeItems(batch)
		clear(batch) // let the texts go
		batch = batch[:0]
	}
	for {
		select {
		case it, ok := <-w.in:
			if !ok {
				flush()
				return
			}
			if it.flush != nil {
				flush()
				close(it.flush)
				continue
			}
			batch = append(batch, it)
			if len(batch) >= w.opts.BatchSize {
				flush()
			} else if !timerOn {
				timer.Reset(w.opts.FlushEvery)
				timerOn = true
			}
		case <-timer.C:
			timerOn = false
			flush()
		}
	}
}

// storeItems groups items into one store batch per task attempt (unfenced events: per
// task), leaving out fenced attempts' events, and stores them.
func (w *EventWriter) storeItems(items []writerItem) {
	type key struct {
		owner *AttemptEvents
		task  string // of unfenced events
	}
	var (
		batches []store.EventBatch
		owners  []*AttemptEvents
		index   = map[key]int{}
	)
	for _, it := range items {
		k := key{owner: it.owner}
		b := store.EventBatch{Task: it.event.Task}
		switch {
		case it.owner != nil && it.owner.IsFenced():
			continue
		case it.owner != nil:
			b.Task, b.Attempt = it.owner.task, it.owner.attempt
		case it.event.Task == "":
			w.opts.Logger.Error("dropping an activity event that names no task", "seq", it.event.Seq, "type", string(it.event.Type))
			w.opts.Metrics.EventsDropped(1)
			continue
		default:
			k.task = it.event.Task
		}
		i, ok := index[k]
		if !ok {
			i = len(batches)
			index[k] = i
			batches = append(batches, b)
			owners = append(owners, it.owner)
		}
		batches[i].Events = append(batches[i].Events, it.event)
	}
	if len(batches) > 0 {
		w.store1(batches, owners)
	}
}

// store1 stores batches, retrying with backoff until GiveUpAfter, and fences the
// attempts whose batches the store refused.
func (w *EventWriter) store1(batches []store.EventBatch, owners []*AttemptEvents) {
	n := 0
	for _, b := range batches {
		n += len(b.Events)
	}
	deadline := time.Now().Add(w.opts.GiveUpAfter)
	backoff := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		fenced, err := w.store.AppendEvents(ctx, batches)
		cancel()
		if err == nil {
			refused := 0
			for _, f := range fenced {
				refused += len(f.Events)
				for i, b := range batches {
					if owners[i] != nil && b.Task == f.Task && b.Attempt == f.Attempt && owners[i].fence() {
						w.opts.Logger.Warn("another attempt took the task over: this attempt's activity events are no longer stored",
							"task_id", f.Task, "attempt", f.Attempt, "dropped", len(f.Events))
					}
				}
			}
			w.opts.Metrics.EventsIngested(n - refused)
			return
		}
		if time.Now().Add(backoff).After(deadline) {
			w.opts.Logger.Error("dropping activity events: the store refused them for too long",
				"events", n, "task_id", batches[0].Task, "tasks", len(batches), "attempts", attempt, "error", err)
			w.opts.Metrics.EventsDropped(n)
			return
		}
		w.opts.Logger.Warn("storing activity events failed; retrying", "events", n, "attempt", attempt, "error", err)
		time.Sleep(backoff)
		backoff = min(2*backoff, 2*time.Second)
	}
}
