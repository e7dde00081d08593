package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestViewFollowAndConfigShow(t *testing.T) {
	w := newWorld(t, step{Answer: "wrote it", Tool: true}, step{Answer: verdictJSON("RETRY", "add a test")},
		step{Answer: "added the test"}, step{Answer: verdictJSON("DONE", "good")})
	res := w.run("run", "--executor", "codex", "--output", "json", "Write it")
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
	id := res.summary["id"].(string)

	view := w.run("view", "--output", "json", id)
	var v map[string]any
	if err := json.Unmarshal([]byte(view.stdout), &v); err != nil {
		t.Fatalf("view --output json: %v\n%s", err, view.stdout)
	}
	hist, _ := v["history"].([]any)
	if len(hist) != 2 || hist[0].(map[string]any)["feedback"] != "add a test" || v["task"] != "Write it" {
		t.Fatalf("view lacks the iterations with their feedback: %v", v)
	}
	text := w.run("view", id)
	for _, want := range []string{"completed", "iteration 1", "RETRY", "add a test", "iteration 2", "DONE"} {
		if !strings.Contains(text.stdout, want) {
			t.Errorf("view output lacks %q:\n%s", want, text.stdout)
		}
	}

	// follow on a finished run replays the whole activity and exits with the run's status.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd, stdout, stderr := w.command(ctx, "follow", id)
	if err := cmd.Run(); err != nil {
		t.Fatalf("follow: %v\n%s", err, stderr)
	}
	for _, want := range []string{"worker_running", "verdict RETRY: add a test", "completed"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("follow output lacks %q:\n%s", want, stderr)
		}
	}
	if !strings.Contains(stdout.String(), "completed") {
		t.Errorf("follow summary: %s", stdout)
	}

	w.env = append(w.env, "ONESHOT_MAX_ITERATIONS=7", "ONESHOT_WORKER_API_KEY=sk-secret-value")
	show := w.run("config", "show", "--output", "json")
	var entries []map[string]string
	if err := json.Unmarshal([]byte(show.stdout), &entries); err != nil {
		t.Fatalf("config show --output json: %v\n%s", err, show.stdout)
	}
	found := false
	for _, e := range entries {
		if e["key"] == "max_iterations" {
			found = e["value"] == "7" && e["origin"] == "env ONESHOT_MAX_ITERATIONS"
		}
	}
	if !found {
		t.Fatalf("config show does not say max_iterations=7 came from the environment: %s", show.stdout)
	}
	plain := w.run("config", "show")
	if strings.Contains(plain.stdout, "sk-secret-value") || !strings.Contains(plain.stdout, "ONESHOT_WORKER_API_KEY") {
		t.Fatalf("config show must name where the key comes from without printing it:\n%s", plain.stdout)
	}
}
