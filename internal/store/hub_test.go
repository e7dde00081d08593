package store

import (
	"context"
	"testing"
	"time"
)

func TestHubCoalescesAndCloses(t *testing.T) {
	h := newHub()
	ctx, cancel := context.WithCancel(context.Background())
	a := h.subscribe(ctx, "task-a")
	b := h.subscribe(context.Background(), "task-b")

	h.wake("task-a")
	h.wake("task-a")
	h.wake("task-a")
	if n := pending(a); n != 1 {
		t.Errorf("three wake-ups while the subscriber was busy gave %d signals, want 1", n)
	}
	if n := pending(b); n != 0 {
		t.Errorf("waking task-a signalled task-b's subscriber")
	}
	h.wakeAll()
	if pending(a) != 1 || pending(b) != 1 {
		t.Errorf("wakeAll did not signal every subscriber")
	}

	cancel()
	waitClosed(t, a)
	if got := h.tasks(); len(got) != 1 || got[0] != "task-b" {
		t.Errorf("tasks after a's context ended = %v, want [task-b]", got)
	}
	h.close()
	waitClosed(t, b)
	late := h.subscribe(context.Background(), "task-c")
	waitClosed(t, late)
}

func pending(ch <-chan struct{}) int {
	n := 0
	for {
		select {
		case <-ch:
			n++
		default:
			return n
		}
	}
}

func waitClosed(t *testing.T, ch <-chan struct{}) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatalf("channel not closed within 5s")
		}
	}
}
