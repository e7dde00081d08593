package loop_test

import (
	"context"
	"testing"

	"github.com/oneshot-run/oneshot/internal/activity"
	"github.com/oneshot-run/oneshot/internal/executor"
	"github.com/oneshot-run/oneshot/internal/loop"
	"github.com/oneshot-run/oneshot/internal/runfiles"
)

type instant struct{ answer string }

func (i instant) Run(_ context.Context, _ executor.Request, emit executor.Emit) (executor.Result, error) {
	emit(activity.Event{Type: activity.Result, Text: i.answer})
	return executor.Result{Text: i.answer}, nil
}

// BenchmarkLoopIteration measures what one worker→auditor iteration costs besides the
// agents themselves, with the real local checkpointing: an atomic, fsynced state-file
// write per transition and an NDJSON activity log.
func BenchmarkLoopIteration(b *testing.B) {
	dir := b.TempDir()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		id := "bench"
		stateFile, logFile, _ := runfiles.Paths(dir, id)
		log, err := runfiles.OpenLog(logFile)
		if err != nil {
			b.Fatal(err)
		}
		st := &runfiles.State{StateFile: stateFile, ActivityLog: logFile}
		l := &loop.Loop{
			Worker:  instant{"did the work"},
			Auditor: instant{`{"verdict":"DONE","feedback":"ok"}`},
			Checkpoint: func(_ context.Context, r *loop.Run) error {
				st.Run = *r
				return runfiles.Save(st)
			},
			Events: log,
		}
		r := &loop.Run{ID: id, Task: "task", MaxIterations: 3, State: loop.Queued}
		if err := l.Run(context.Background(), r); err != nil || r.State != loop.Completed {
			b.Fatalf("%v %s", err, r.State)
		}
		log.Close()
	}
}
