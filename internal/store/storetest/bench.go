package storetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/oneshot-run/oneshot/internal/activity"
	"github.com/oneshot-run/oneshot/internal/store"
)

// Bench measures the store's hot paths on the database newDB gives:
//
//   - CreateTask: tasks/s stored and enqueued (one transaction with the River job),
//     one client at a time and from parallel clients;
//   - AppendEvents: events/s for the batch sizes a batching event writer flushes, fenced
//     by the task's attempt as the runtime writes them.
func Bench(b *testing.B, newDB NewDatabase) {
	b.Run("CreateTask", func(b *testing.B) {
		s := Migrated(b, newDB(b))
		ctx := context.Background()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, _, err := s.CreateTask(ctx, newTask(fmt.Sprintf("bench %d", i), map[string]string{"bench": "yes"})); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tasks/s")
	})
	b.Run("CreateTaskParallel", func(b *testing.B) {
		s := Migrated(b, newDB(b))
		ctx := context.Background()
		var n atomic.Int64
		b.SetParallelism(4)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := n.Add(1)
				nt := newTask(fmt.Sprintf("bench %d", i), nil)
				nt.IdempotencyKey = fmt.Sprintf("key-%d", i)
				if _, _, err := s.CreateTask(ctx, nt); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tasks/s")
	})
	b.Run("SubmitToStart", func(b *testing.B) { benchSubmitToStart(b, newDB) })
	for _, batch := range []int{1, 100, 500} {
		b.Run(fmt.Sprintf("AppendEvents/batch=%d", batch), func(b *testing.B) {
			s := Migrated(b, newDB(b))
			ctx := context.Background()
			// As the runtime writes them: fenced by the attempt that runs the task.
			task, _, err := s.CreateTask(ctx, newTask("chatty", nil))
			if err != nil {
				b.Fatal(err)
			}
			attempt, err := s.StartAttempt(ctx, task.ID, "bench")
			if err != nil {
				b.Fatal(err)
			}
			text := strings.Repeat("an agent's line of output ", 4) // ~100 bytes, a typical message
			data := []byte(`{"type":"assistant","message":{"content":[{"type":"text","text":"hello"}]}}`)
			events := make([]activity.Event, batch)
			seq := int64(0)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for j := range events {
					seq++
					events[j] = activity.Event{Seq: seq, TS: time.Now(), Task: task.ID, Iteration: 1,
						Role: activity.RoleWorker, Executor: "claude", Type: activity.Message, Text: text, Data: data}
				}
				fenced, err := s.AppendEvents(ctx, []store.EventBatch{{Task: task.ID, Attempt: attempt.Attempts, Events: events}})
				if err != nil || len(fenced) > 0 {
					b.Fatalf("AppendEvents = fenced %d, %v", len(fenced), err)
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// benchSubmitToStart measures how long a task waits between CreateTask returning and
// an idle worker starting it, one task at a time, with River's client as NewQueue
// configures it by default.
func benchSubmitToStart(b *testing.B, newDB NewDatabase) {
	o := newDB(b)
	s := Migrated(b, o)
	worker := Open(b, o)
	started := make(chan time.Time, 1)
	workers := river.NewWorkers()
	river.AddWorker(workers, river.WorkFunc(func(ctx context.Context, job *river.Job[store.TaskArgs]) error {
		started <- time.Now()
		return nil
	}))
	q, err := worker.NewQueue(river.Config{Workers: workers, Queues: map[string]river.QueueConfig{store.TaskQueue: {MaxWorkers: 4}}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := q.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer q.Stop(ctx)
	time.Sleep(200 * time.Millisecond) // let the client settle (leader election, listeners)
	var waits []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := s.CreateTask(ctx, newTask(fmt.Sprintf("latency %d", i), nil)); err != nil {
			b.Fatal(err)
		}
		submitted := time.Now()
		select {
		case at := <-started:
			waits = append(waits, at.Sub(submitted))
		case <-time.After(10 * time.Second):
			b.Fatalf("task %d did not start within 10s", i)
		}
	}
	b.StopTimer()
	slices.Sort(waits)
	pct := func(p float64) float64 {
		return float64(waits[min(len(waits)-1, int(p*float64(len(waits))))]) / float64(time.Millisecond)
	}
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}
