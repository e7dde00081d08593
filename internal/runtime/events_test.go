package runtime

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/oneshot-run/oneshot/internal/activity"
	"github.com/oneshot-run/oneshot/internal/store"
)

// recordingAppender stores batches in memory; block and fail simulate a slow or broken
// store, and current (task → attempt) a store that fences superseded attempts.
type recordingAppender struct {
	mu      sync.Mutex
	batches [][]activity.Event // the events of each call
	calls   [][]store.EventBatch
	block   chan struct{} // when non-nil, AppendEvents waits for it
	fail    error
	current map[string]int
}

func (a *recordingAppender) AppendEvents(ctx context.Context, batches []store.EventBatch) ([]store.EventBatch, error) {
	if a.block != nil {
		select {
		case <-a.block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fail != nil {
		return nil, a.fail
	}
	var (
		stored []activity.Event
		fenced []store.EventBatch
	)
	for _, b := range batches {
		if b.Attempt > 0 && a.current[b.Task] != b.Attempt {
			fenced = append(fenced, b)
			continue
		}
		stored = append(stored, b.Events...)
	}
	a.calls = append(a.calls, slices.Clone(batches))
	if len(stored) > 0 {
		a.batches = append(a.batches, stored)
	}
	return fenced, nil
}

func (a *recordingAppender) setAttempt(task string, attempt int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.current == nil {
		a.current = map[string]int{}
	}
	a.current[task] = attempt
}

func (a *recordingAppender) texts() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, b := range a.batches {
		for _, e := range b {
			out = append(out, e.Task+":"+e.Text)
		}
	}
	return out
}

func (a *recordingAppender) sizes() []int {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []int
	for _, b := range a.batches {
		out = append(out, len(b))
	}
	return out
}

func (a *recordingAppender) total() int {
	n := 0
	for _, s := range a.sizes() {
		n += s
	}
	return n
}

func ev(i int) activity.Event {
	return activity.Event{Seq: int64(i), Task: "t1", Type: activity.Message, Text: fmt.Sprint(i)}
}

func TestEventWriterFlushesFullBatchesAtOnce(t *testing.T) {
	a := &recordingAppender{}
	w := NewEventWriter(a, EventWriterOptions{BatchSize: 10, FlushEvery: time.Hour})
	defer w.Close(context.Background())
	for i := 1; i <= 25; i++ {
		w.Emit(ev(i))
	}
	waitFor(t, time.Second, func() bool { return a.total() == 20 })
	if got := a.sizes(); len(got) != 2 || got[0] != 10 || got[1] != 10 {
		t.Fatalf("batches = %v, want two full batches of 10 before the timer", got)
	}
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if a.total() != 25 {
		t.Fatalf("after Flush %d events stored, want 25", a.total())
	}
}

func TestEventWriterFlushesByTime(t *testing.T) {
	a := &recordingAppender{}
	w := NewEventWriter(a, EventWriterOptions{BatchSize: 500, FlushEvery: 20 * time.Millisecond})
	defer w.Close(context.Background())
	start := time.Now()
	w.Emit(ev(1))
	w.Emit(ev(2))
	waitFor(t, time.Second, func() bool { return a.total() == 2 })
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Fatalf("two events took %s to be stored, want about FlushEvery", d)
	}
	if got := a.sizes(); len(got) != 1 {
		t.Fatalf("batches = %v, want the two events in one batch", got)
	}
}

func TestEventWriterCloseStoresTheRestAndDropsLaterEvents(t *testing.T) {
	a := &recordingAppender{}
	w := NewEventWriter(a, EventWriterOptions{BatchSize: 500, FlushEvery: time.Hour})
	for i := 1; i <= 7; i++ {
		w.Emit(ev(i))
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if a.total() != 7 {
		t.Fatalf("stored %d events at Close, want 7", a.total())
	}
	w.Emit(ev(8)) // must neither block nor panic
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if a.total() != 7 {
		t.Fatalf("an event emitted after Close was stored")
	}
}

func TestEventWriterBlocksProducerWhenStoreIsSlow(t *testing.T) {
	a := &recordingAppender{block: make(chan struct{})}
	w := NewEventWriter(a, EventWriterOptions{BatchSize: 5, Buffer: 10, FlushEvery: time.Millisecond})
	defer w.Close(context.Background())
	emitted := make(chan int, 100)
	go func() {
		for i := 1; i <= 100; i++ {
			w.Emit(ev(i))
			emitted <- i
		}
		close(emitted)
	}()
	// The writer holds one batch (5) in the blocked AppendEvents; the buffer holds 10.
	time.Sleep(200 * time.Millisecond)
	n := len(emitted)
	if n > 5+10+1 {
		t.Fatalf("%d events were accepted while the store was stuck: memory is not bounded (want at most %d)", n, 16)
	}
	close(a.block)
	for range emitted {
	}
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if a.total() != 100 {
		t.Fatalf("stored %d events once the store recovered, want all 100", a.total())
	}
}

func TestEventWriterGivesUpOnABrokenStore(t *testing.T) {
	a := &recordingAppender{fail: errors.New("database is down")}
	w := NewEventWriter(a, EventWriterOptions{BatchSize: 2, FlushEvery: time.Millisecond, GiveUpAfter: 150 * time.Millisecond})
	defer w.Close(context.Background())
	done := make(chan struct{})
	go func() {
		for i := 1; i <= 10; i++ {
			w.Emit(ev(i))
		}
		_ = w.Flush(context.Background())
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Emit/Flush stayed blocked on a broken store: the agent would be wedged")
	}
}

func TestEventWriterBatchesPerAttempt(t *testing.T) {
	a := &recordingAppender{}
	a.setAttempt("t1", 2)
	a.setAttempt("t2", 1)
	w := NewEventWriter(a, EventWriterOptions{BatchSize: 500, FlushEvery: time.Hour})
	defer w.Close(context.Background())
	t1, t2 := w.Attempt("t1", 2), w.Attempt("t2", 1)
	t1.Emit(activity.Event{Seq: 1, Text: "a"}) // the sink names its task
	t2.Emit(activity.Event{Seq: 1, Task: "t2", Text: "b"})
	w.Emit(activity.Event{Seq: 1, Task: "t3", Text: "c"})
	t1.Emit(activity.Event{Seq: 2, Text: "d"})
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.calls) != 1 {
		t.Fatalf("%d AppendEvents calls, want one", len(a.calls))
	}
	var got []string
	for _, b := range a.calls[0] {
		var texts []string
		for _, e := range b.Events {
			texts = append(texts, e.Task+":"+e.Text)
		}
		got = append(got, fmt.Sprintf("%s@%d%v", b.Task, b.Attempt, texts))
	}
	if want := []string{"t1@2[t1:a t1:d]", "t2@1[t2:b]", "t3@0[t3:c]"}; !slices.Equal(got, want) {
		t.Errorf("batches = %v, want %v", got, want)
	}
}

func TestEventWriterFencesASupersededAttempt(t *testing.T) {
	a := &recordingAppender{}
	a.setAttempt("t1", 1)
	a.setAttempt("t2", 1)
	w := NewEventWriter(a, EventWriterOptions{BatchSize: 500, FlushEvery: time.Hour})
	defer w.Close(context.Background())
	stale, other := w.Attempt("t1", 1), w.Attempt("t2", 1)
	stale.Emit(activity.Event{Seq: 1, Text: "before"})
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if stale.IsFenced() {
		t.Fatal("the current attempt's sink is fenced")
	}

	a.setAttempt("t1", 2) // another worker took t1 over
	stale.Emit(activity.Event{Seq: 2, Text: "refused"})
	other.Emit(activity.Event{Seq: 1, Text: "kept"})
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-stale.Fenced():
	default:
		t.Fatal("Fenced is not closed after the store refused the attempt's events")
	}
	if other.IsFenced() {
		t.Error("another task's attempt was fenced too")
	}
	stale.Emit(activity.Event{Seq: 3, Text: "dropped"}) // must neither block nor be sent
	other.Emit(activity.Event{Seq: 2, Text: "kept too"})
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := a.texts(), []string{"t1:before", "t2:kept", "t2:kept too"}; !slices.Equal(got, want) {
		t.Errorf("stored %v, want %v", got, want)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, call := range a.calls[2:] {
		for _, b := range call {
			if b.Task == "t1" {
				t.Errorf("the writer still sends the fenced attempt's events: %+v", b)
			}
		}
	}
}

func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", d)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
