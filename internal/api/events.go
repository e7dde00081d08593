package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/oneshot-run/oneshot/internal/activity"
)

const (
	eventPage = 500
	// retryMillis is the reconnection delay an EventSource uses after a dropped stream.
	retryMillis = 3000
	// finalGrace is how long a stream of a finished task waits for events the run
	// recorded (last_event_seq) but the store does not have yet: workers write events in
	// batches, and a worker that died may never write its last ones.
	finalGrace = 3 * time.Second
)

// taskEvents handles GET /api/v1/tasks/{id}/events: a Server-Sent Events stream of the
// task's activity, or with follow=false the events stored so far as NDJSON.
func (s *server) taskEvents(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	for k := range q {
		if k != "after" && k != "follow" {
			return errInvalid("unknown query parameter %q: use after and follow", clip(k))
		}
	}
	follow := true
	if v := q.Get("follow"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errInvalid("follow %q must be true or false", clip(v))
		}
		follow = b
	}
	after, err := eventsAfter(r)
	if err != nil {
		return err
	}
	task, err := s.lookupTask(r)
	if err != nil {
		return err
	}
	if !follow {
		return s.writeNDJSON(w, r, task.ID, after)
	}
	return s.streamEvents(w, r, task.ID, after)
}

// eventsAfter is the seq after which to send events: the Last-Event-ID header of an
// EventSource that reconnects, else ?after=, else 0 (from the start).
func eventsAfter(r *http.Request) (int64, error) {
	src, v := "header Last-Event-ID", r.Header.Get("Last-Event-ID")
	if v == "" {
		src, v = "after", r.URL.Query().Get("after")
	}
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, errInvalid("%s %q must be an event seq: a whole number, 0 or more", src, clip(v))
	}
	return n, nil
}

// writeNDJSON writes the task's stored events after seq, one JSON object a line.
func (s *server) writeNDJSON(w http.ResponseWriter, r *http.Request, task string, after int64) error {
	ctx := r.Context()
	evs, err := s.store.Events(ctx, task, after, eventPage)
	if err != nil {
		return fmt.Errorf("read events of task %s: %w", task, err)
	}
	h := w.Header()
	h.Set("Content-Type", "application/x-ndjson")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for {
		for i := range evs {
			if err := enc.Encode(&evs[i]); err != nil {
				return nil // the client went away
			}
			after = evs[i].Seq
		}
		if len(evs) < eventPage {
			return nil
		}
		if evs, err = s.store.Events(ctx, task, after, eventPage); err != nil {
			if ctx.Err() == nil {
				s.log.ErrorContext(ctx, "event listing cut short", "task_id", task, "after", after, "error", err)
			}
			// Abort the response so the client sees a broken transfer, not a short list.
			panic(http.ErrAbortHandler)
		}
	}
}

// sseWriter writes Server-Sent Events and remembers the first write error (the client
// has gone), after which it writes nothing.
type sseWriter struct {
	w   io.Writer
	rc  *http.ResponseController
	err error
}

func (sw *sseWriter) printf(format string, args ...any) {
	if sw.err == nil {
		_, sw.err = fmt.Fprintf(sw.w, format, args...)
	}
}

func (sw *sseWriter) flush() {
	if sw.err == nil {
		sw.err = sw.rc.Flush()
	}
}

// event writes one activity event. The data line is the event's JSON (one line: JSON
// strings escape newlines); id is its seq, which is what Last-Event-ID resumes from.
func (sw *sseWriter) event(e *activity.Event) {
	b, err := json.Marshal(e)
	if err != nil {
		b = []byte(`{"seq":` + strconv.FormatInt(e.Seq, 10) + `,"type":"error","text":"event could not be encoded"}`)
	}
	sw.printf("id: %d\ndata: %s\n\n", e.Seq, b)
}

// endView is the data of the final "end" event of a stream.
type endView struct {
	State        string `json:"state"`
	LastEventSeq int64  `json:"last_event_seq"`
}

// streamEvents sends the task's events after seq as they are stored, until the task is
// final and all its events are sent (then an "end" event) or the client goes away.
// Events carry no event name, so EventSource.onmessage receives them all.
func (s *server) streamEvents(w http.ResponseWriter, r *http.Request, id string, after int64) error {
	ctx := r.Context()
	// Subscribe before the first read, so no change between the read and the wait is missed.
	subCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	wake := s.store.Subscribe(subCtx, id)

	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // a stream outlives the server's WriteTimeout
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx and similar proxies: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	sw := &sseWriter{w: w, rc: rc}
	sw.printf("retry: %d\n\n", retryMillis)
	sw.flush()

	heartbeat := time.NewTicker(s.heartbeat)
	defer heartbeat.Stop()
	poll := time.NewTicker(s.poll)
	defer poll.Stop()
	var missingSince time.Time // when the task was first seen final with events still missing
	failures := 0
	for sw.err == nil {
		done, err := s.sendNew(ctx, sw, id, &after, &missingSince)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			// The store may be restarting: keep the stream and try again on the next
			// wake-up or poll; the client's Last-Event-ID makes a reconnect safe too.
			failures++
			level := slog.LevelWarn
			if failures > 1 {
				level = slog.LevelDebug
			}
			s.log.Log(ctx, level, "event stream could not read the store; retrying", "task_id", id, "error", err)
		case done:
			return nil
		default:
			failures = 0
		}
		sw.flush()
	wait:
		for sw.err == nil {
			select {
			case <-ctx.Done():
				return nil
			case _, ok := <-wake:
				if !ok {
					return nil
				}
				break wait
			case <-poll.C:
				break wait
			case <-heartbeat.C:
				sw.printf(": keep-alive\n\n")
				sw.flush()
			}
		}
	}
	return nil
}

// sendNew sends the events stored after *after and reports whether the stream is done:
// the task is final and every event it recorded has been sent (or the grace for
// missing ones has passed), in which case it has written the "end" event.
func (s *server) sendNew(ctx context.Context, sw *sseWriter, id string, after *int64, missingSince *time.Time) (bool, error) {
	// Read the task before its events: events stored before the task became final are
	// then certain to be read below.
	task, err := s.store.GetTask(ctx, id)
	if err != nil {
		return false, fmt.Errorf("get task %s: %w", id, err)
	}
	for {
		evs, err := s.store.Events(ctx, id, *after, eventPage)
		if err != nil {
			return false, fmt.Errorf("read events of task %s: %w", id, err)
		}
		for i := range evs {
			sw.event(&evs[i])
			*after = evs[i].Seq
		}
		if len(evs) < eventPage || sw.err != nil {
			break
		}
	}
	if !task.State().Final() {
		return false, nil
	}
	if *after < task.Run.LastSeq {
		if missingSince.IsZero() {
			*missingSince = time.Now()
		}
		if time.Since(*missingSince) < finalGrace {
			return false, nil
		}
	}
	b, _ := json.Marshal(endView{State: string(task.State()), LastEventSeq: *after})
	sw.printf("event: end\ndata: %s\n\n", b)
	sw.flush()
	return true, nil
}
