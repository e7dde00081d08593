package store

import (
	"context"
	"sync"
)

// hub fans "task changed" wake-ups out to this process's subscribers. Channels are
// buffered (1) and wake-ups coalesce: a subscriber that is busy reading gets one
// more wake-up, not one per change, and then reads everything new at once.
type hub struct {
	mu     sync.Mutex
	subs   map[string]map[chan struct{}]struct{}
	closed bool
	// added is called, outside the lock, with a task that got its first subscriber.
	added func(task string)
}

func newHub() *hub {
	return &hub{subs: make(map[string]map[chan struct{}]struct{})}
}

func (h *hub) subscribe(ctx context.Context, task string) <-chan struct{} {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		close(ch)
		return ch
	}
	set := h.subs[task]
	first := set == nil
	if first {
		set = make(map[chan struct{}]struct{})
		h.subs[task] = set
	}
	set[ch] = struct{}{}
	added := h.added
	h.mu.Unlock()
	if first && added != nil {
		added(task)
	}

	go func() {
		<-ctx.Done()
		h.mu.Lock()
		defer h.mu.Unlock()
		if set, ok := h.subs[task]; ok {
			if _, ok := set[ch]; ok {
				delete(set, ch)
				if len(set) == 0 {
					delete(h.subs, task)
				}
				close(ch)
			}
		}
	}()
	return ch
}

// wake signals the subscribers of tasks.
func (h *hub) wake(tasks ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, task := range tasks {
		for ch := range h.subs[task] {
			signal(ch)
		}
	}
}

// wakeAll signals every subscriber, after a change may have gone unnoticed.
func (h *hub) wakeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, set := range h.subs {
		for ch := range set {
			signal(ch)
		}
	}
}

// tasks returns the tasks that have subscribers.
func (h *hub) tasks() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	ids := make([]string, 0, len(h.subs))
	for id := range h.subs {
		ids = append(ids, id)
	}
	return ids
}

// close ends every subscription.
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for task, set := range h.subs {
		for ch := range set {
			close(ch)
		}
		delete(h.subs, task)
	}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
