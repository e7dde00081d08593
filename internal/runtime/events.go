package runtime

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/oneshot-run/oneshot/internal/activity"
	"github.com/oneshot-run/oneshot/internal/metrics"
)

// EventAppender is the part of the store the event writer needs.
type EventAppender interface {
	AppendEvents(ctx context.Context, events []activity.Event) error
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
	flush chan struct{} // non-nil: a flush request, closed once everything before it is stored
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

// Emit queues e for storage, blocking while the buffer is full. After Close it drops e.
func (w *EventWriter) Emit(e activity.Event) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.isShut {
		return
	}
	w.in <- writerItem{event: e}
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
	batch := make([]activity.Event, 0, w.opts.BatchSize)
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
		w.store1(batch)
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
			batch = append(batch, it.event)
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

// store1 stores one batch, retrying with backoff until GiveUpAfter.
func (w *EventWriter) store1(batch []activity.Event) {
	deadline := time.Now().Add(w.opts.GiveUpAfter)
	backoff := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		err := w.store.AppendEvents(ctx, batch)
		cancel()
		if err == nil {
			w.opts.Metrics.EventsIngested(len(batch))
			return
		}
		if time.Now().Add(backoff).After(deadline) {
			w.opts.Logger.Error("dropping activity events: the store refused them for too long",
				"events", len(batch), "task_id", batch[0].Task, "attempts", attempt, "error", err)
			w.opts.Metrics.EventsDropped(len(batch))
			return
		}
		w.opts.Logger.Warn("storing activity events failed; retrying", "events", len(batch), "attempt", attempt, "error", err)
		time.Sleep(backoff)
		backoff = min(2*backoff, 2*time.Second)
	}
}
