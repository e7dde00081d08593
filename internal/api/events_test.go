package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/oneshot-run/oneshot/internal/activity"
	"github.com/oneshot-run/oneshot/internal/loop"
	"github.com/oneshot-run/oneshot/internal/store/storetest"
)

func appendEvents(t *testing.T, h *harness, task string, from, to int64) {
	t.Helper()
	var evs []activity.Event
	for seq := from; seq <= to; seq++ {
		evs = append(evs, activity.Event{
			Seq: seq, TS: time.Now().UTC(), Task: task, Iteration: 1, Role: activity.RoleWorker,
			Executor: "direct", Type: activity.Message, Text: fmt.Sprintf("line %d\nwith a newline", seq),
			Data: json.RawMessage(`{"raw":true}`),
		})
	}
	if _, err := h.store.AppendEvents(context.Background(), storetest.Unfenced(evs...)); err != nil {
		t.Fatal(err)
	}
}

// finish checkpoints the task as completed with lastSeq events recorded.
func finish(t *testing.T, h *harness, id string, attempt int, lastSeq int64) {
	t.Helper()
	task, err := h.store.GetTask(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	r := task.Run
	now := time.Now().UTC()
	r.State, r.FinishedAt, r.Agent, r.LastSeq = loop.Completed, &now, nil, lastSeq
	if err := h.store.SaveRun(context.Background(), id, attempt, &r); err != nil {
		t.Fatal(err)
	}
}

// openStream opens the task's SSE stream; cancel closes it.
func openStream(t *testing.T, h *harness, id string, headers ...string) (<-chan sseFrame, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", h.srv.URL+"/api/v1/tasks/"+id+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+h.token)
	req.Header.Set("Accept", "text/event-stream")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("stream: status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	t.Cleanup(func() { cancel(); resp.Body.Close() })
	return readSSE(resp.Body), cancel
}

// expectEvents reads the next frames and checks they are the events from..to.
func expectEvents(t *testing.T, frames <-chan sseFrame, task string, from, to int64) {
	t.Helper()
	for seq := from; seq <= to; seq++ {
		f, ok := nextFrame(t, frames, 5*time.Second)
		if !ok {
			t.Fatalf("stream ended before event %d", seq)
		}
		if f.id != strconv.FormatInt(seq, 10) || f.event != "" {
			t.Fatalf("frame %+v, want event %d", f, seq)
		}
		var e activity.Event
		if err := json.Unmarshal([]byte(f.data), &e); err != nil {
			t.Fatalf("event data %q: %v", f.data, err)
		}
		if e.Seq != seq || e.Task != task || e.Text != fmt.Sprintf("line %d\nwith a newline", seq) || string(e.Data) != `{"raw":true}` {
			t.Fatalf("event %d = %+v", seq, e)
		}
	}
}

func TestEventStream(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, h *harness) {
		task := h.createTask(`{"prompt": "x"}`)
		attempt := startRun(t, h, task.ID)
		appendEvents(t, h, task.ID, 1, 3)

		frames, closeStream := openStream(t, h, task.ID)
		if f, _ := nextFrame(t, frames, 5*time.Second); f.event != "retry" || f.data != "3000" {
			t.Fatalf("first frame %+v, want retry: 3000", f)
		}
		expectEvents(t, frames, task.ID, 1, 3)

		// Events stored while the client watches arrive without a reconnect.
		appendEvents(t, h, task.ID, 4, 5)
		expectEvents(t, frames, task.ID, 4, 5)

		// An idle stream sends keep-alive comments.
		deadline := time.After(5 * time.Second)
	comments:
		for {
			select {
			case f := <-frames:
				if f.comment {
					break comments
				}
				t.Fatalf("unexpected frame %+v", f)
			case <-deadline:
				t.Fatal("no keep-alive comment")
			}
		}
		closeStream()

		// A reconnect with Last-Event-ID gets only later events; then the stream ends
		// once the task is final and all its events are sent.
		appendEvents(t, h, task.ID, 6, 7)
		frames, _ = openStream(t, h, task.ID, "Last-Event-ID", "5")
		nextFrame(t, frames, 5*time.Second) // retry
		expectEvents(t, frames, task.ID, 6, 7)
		finish(t, h, task.ID, attempt, 8)
		appendEvents(t, h, task.ID, 8, 8)
		expectEvents(t, frames, task.ID, 8, 8)
		end, ok := nextFrame(t, frames, 5*time.Second)
		if !ok || end.event != "end" || end.data != `{"state":"completed","last_event_seq":8}` {
			t.Fatalf("end frame %+v (ok %v)", end, ok)
		}
		if f, ok := nextFrame(t, frames, 5*time.Second); ok {
			t.Fatalf("stream goes on after end: %+v", f)
		}
	})
}

func TestEventStreamAfterQuery(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, h *harness) {
		task := h.createTask(`{"prompt": "x"}`)
		startRun(t, h, task.ID)
		appendEvents(t, h, task.ID, 1, 4)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", h.srv.URL+"/api/v1/tasks/"+task.ID+"/events?after=2", nil)
		req.Header.Set("Authorization", "Bearer "+h.token)
		resp, err := h.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		frames := readSSE(resp.Body)
		nextFrame(t, frames, 5*time.Second) // retry
		expectEvents(t, frames, task.ID, 3, 4)
	})
}

func TestEventStreamOfFinishedTask(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, h *harness) {
		task := h.createTask(`{"prompt": "x"}`)
		decode[taskView](t, h.request("POST", "/api/v1/tasks/"+task.ID+"/cancel", nil), http.StatusAccepted)
		frames, _ := openStream(t, h, task.ID)
		nextFrame(t, frames, 5*time.Second) // retry
		for {
			f, ok := nextFrame(t, frames, 5*time.Second)
			if !ok {
				t.Fatal("the stream ended without an end event")
			}
			if f.event == "end" {
				if !strings.Contains(f.data, `"state":"cancelled"`) {
					t.Errorf("end = %s", f.data)
				}
				break
			}
		}
		if f, ok := nextFrame(t, frames, 5*time.Second); ok {
			t.Fatalf("stream goes on after end: %+v", f)
		}
	})
}

func TestEventStreamWaitsForLateEvents(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, h *harness) {
		task := h.createTask(`{"prompt": "x"}`)
		attempt := startRun(t, h, task.ID)
		appendEvents(t, h, task.ID, 1, 2)
		// The worker checkpointed the final state before its last batch of events landed.
		finish(t, h, task.ID, attempt, 3)
		frames, _ := openStream(t, h, task.ID)
		nextFrame(t, frames, 5*time.Second) // retry
		expectEvents(t, frames, task.ID, 1, 2)
		time.Sleep(300 * time.Millisecond)
		appendEvents(t, h, task.ID, 3, 3)
		expectEvents(t, frames, task.ID, 3, 3)
		if end, _ := nextFrame(t, frames, 5*time.Second); end.event != "end" {
			t.Fatalf("frame %+v, want end", end)
		}

		// Events that never come (their worker died) do not hold the stream forever.
		lost := h.createTask(`{"prompt": "y"}`)
		attempt = startRun(t, h, lost.ID)
		appendEvents(t, h, lost.ID, 1, 1)
		finish(t, h, lost.ID, attempt, 5)
		frames, _ = openStream(t, h, lost.ID)
		nextFrame(t, frames, 5*time.Second) // retry
		expectEvents(t, frames, lost.ID, 1, 1)
		start := time.Now()
		end, _ := nextFrame(t, frames, 10*time.Second)
		if end.event != "end" || end.data != `{"state":"completed","last_event_seq":1}` {
			t.Fatalf("frame %+v, want end after event 1", end)
		}
		if waited := time.Since(start); waited < finalGrace/2 {
			t.Errorf("ended after %s without waiting for the missing events", waited)
		}
	})
}

func TestEventsNDJSON(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, h *harness) {
		task := h.createTask(`{"prompt": "x"}`)
		startRun(t, h, task.ID)
		const n = eventPage*2 + 17 // more than one page
		appendEvents(t, h, task.ID, 1, n)

		read := func(query string) []activity.Event {
			resp := h.request("GET", "/api/v1/tasks/"+task.ID+"/events?"+query, nil)
			defer resp.Body.Close()
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-ndjson" {
				t.Fatalf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			var out []activity.Event
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				var e activity.Event
				if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
					t.Fatalf("line %q: %v", sc.Text(), err)
				}
				out = append(out, e)
			}
			return out
		}
		all := read("follow=false")
		if len(all) != n {
			t.Fatalf("%d events, want %d", len(all), n)
		}
		for i, e := range all {
			if e.Seq != int64(i+1) {
				t.Fatalf("event %d has seq %d", i, e.Seq)
			}
		}
		later := read("follow=false&after=700")
		if len(later) != n-700 || later[0].Seq != 701 {
			t.Fatalf("after=700: %d events, want %d from 701", len(later), n-700)
		}
	})
}

func TestEventsValidation(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, h *harness) {
		task := h.createTask(`{"prompt": "x"}`)
		tests := []struct {
			name    string
			path    string
			headers []string
			want    int
			message string
		}{
			{"negative after", "?after=-1", nil, 400, "after"},
			{"bad Last-Event-ID", "", []string{"Last-Event-ID", "abc"}, 400, "Last-Event-ID"},
			{"bad follow", "?follow=maybe", nil, 400, "true or false"},
			{"unknown parameter", "?since=3", nil, 400, "since"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				e := decode[apiErr](t, h.request("GET", "/api/v1/tasks/"+task.ID+"/events"+tc.path, nil, tc.headers...), tc.want)
				if !strings.Contains(e.Error.Message, tc.message) {
					t.Errorf("message %q does not mention %q", e.Error.Message, tc.message)
				}
			})
		}
		decode[apiErr](t, h.request("GET", "/api/v1/tasks/nope/events", nil), 404)
		decode[apiErr](t, h.request("GET", "/api/v1/tasks/nope/events?follow=false", nil), 404)
	})
}
