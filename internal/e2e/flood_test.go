package e2e

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"syscall"
	"testing"
	"time"
)

// runFlood runs one loop whose worker prints about size bytes of stream events before
// its answer, and returns the summary and oneshot's peak RSS in KiB.
func runFlood(t testing.TB, w *world, executor string) (map[string]any, int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd, stdout, _ := w.command(ctx, "run", "--executor", executor, "--output", "json", "Flood")
	cmd.Stderr = io.Discard
	if err := cmd.Run(); err != nil {
		t.Fatalf("oneshot: %v", err)
	}
	var sum map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &sum); err != nil {
		t.Fatal(err)
	}
	return sum, cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss
}

// Test100MBOfOutput checks a worker that streams 100 MB still completes with its answer
// and that oneshot's memory does not grow with the output (the figure itself is
// reported by BenchmarkFloodMemory and recorded in docs/performance.md).
func Test100MBOfOutput(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 100 MB")
	}
	for _, ex := range []string{"claude", "command"} {
		t.Run(ex, func(t *testing.T) {
			w := newWorld(t, step{Answer: "flooded and done", Behaviour: "flood:104857600"}, step{Answer: verdictJSON("DONE", "ok")})
			if ex == "command" {
				w.env = append(w.env, "ONESHOT_WORKER_COMMAND=fakecmd", "ONESHOT_AUDITOR_COMMAND=fakecmd")
			}
			sum, rssKiB := runFlood(t, w, ex)
			if sum["state"] != "completed" {
				t.Fatalf("summary %v", sum)
			}
			if ex == "claude" && sum["result"] != "flooded and done" {
				t.Fatalf("result %q", sum["result"])
			}
			st, err := os.Stat(sum["activity_log"].(string))
			if err != nil || st.Size() < 50<<20 {
				t.Fatalf("activity log should hold the flood: %v, %d bytes", err, st.Size())
			}
			t.Logf("%s: peak RSS %d MiB for 100 MB of agent output", ex, rssKiB>>10)
			// A regression guard well above the 50 MB target, which the benchmark shows:
			// buffering the output whole would take several hundred MiB.
			if rssKiB > 150<<10 {
				t.Fatalf("peak RSS %d MiB: memory grows with the agent's output", rssKiB>>10)
			}
		})
	}
}

// BenchmarkFloodMemory reports oneshot's peak RSS while a claude worker streams 100 MB.
func BenchmarkFloodMemory(b *testing.B) {
	for i := 0; i < b.N; i++ {
		w := newWorld(b, step{Answer: "done", Behaviour: "flood:104857600"}, step{Answer: verdictJSON("DONE", "ok")})
		_, rss := runFlood(b, w, "claude")
		b.ReportMetric(float64(rss)/1024, "peak-RSS-MiB")
	}
}
