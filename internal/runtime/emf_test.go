package runtime

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/oneshot-run/oneshot/internal/store"
)

func TestEMFLineFollowsTheSpecification(t *testing.T) {
	cases := []struct {
		name    string
		st      store.Status
		backlog float64
	}{
		{"two workers", store.Status{QueueDepth: 7, InFlight: 3, WorkersAlive: 2, OldestQueuedAge: 1500 * time.Millisecond}, 5},
		{"scaled to zero counts one worker", store.Status{QueueDepth: 4, WorkersAlive: 0}, 4},
		{"idle", store.Status{WorkersAlive: 3}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			now := time.UnixMilli(1_700_000_000_123)
			if err := writeEMF(&buf, "Oneshot/dev", "staging", &c.st, now); err != nil {
				t.Fatal(err)
			}
			out := buf.String()
			if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
				t.Fatalf("EMF output must be exactly one line: %q", out)
			}
			var doc map[string]any
			if err := json.Unmarshal([]byte(out), &doc); err != nil {
				t.Fatalf("not JSON: %v", err)
			}
			aws, ok := doc["_aws"].(map[string]any)
			if !ok {
				t.Fatalf("no _aws object: %s", out)
			}
			if ts, ok := aws["Timestamp"].(float64); !ok || int64(ts) != 1_700_000_000_123 {
				t.Errorf("_aws.Timestamp = %v, want epoch milliseconds 1700000000123", aws["Timestamp"])
			}
			dirs, ok := aws["CloudWatchMetrics"].([]any)
			if !ok || len(dirs) != 1 {
				t.Fatalf("_aws.CloudWatchMetrics must be an array with one directive: %s", out)
			}
			d := dirs[0].(map[string]any)
			if d["Namespace"] != "Oneshot/dev" {
				t.Errorf("Namespace = %v", d["Namespace"])
			}
			dims, _ := json.Marshal(d["Dimensions"])
			if string(dims) != `[["Environment"]]` {
				t.Errorf("Dimensions = %s, want [[\"Environment\"]] (an array of dimension sets)", dims)
			}
			if doc["Environment"] != "staging" {
				t.Errorf("the Environment dimension's value must be a top-level member: got %v", doc["Environment"])
			}
			want := map[string]string{
				"QueueDepth": "Count", "InFlight": "Count", "WorkersAlive": "Count",
				"BacklogPerWorker": "Count", "OldestQueuedAgeSeconds": "Seconds",
			}
			metrics := d["Metrics"].([]any)
			if len(metrics) != len(want) {
				t.Errorf("Metrics = %v, want %d metrics", metrics, len(want))
			}
			for _, m := range metrics {
				m := m.(map[string]any)
				name, _ := m["Name"].(string)
				if want[name] == "" || m["Unit"] != want[name] {
					t.Errorf("metric %v: unexpected name or unit", m)
				}
				// Every metric named in the directive needs a numeric top-level value.
				if _, ok := doc[name].(float64); !ok {
					t.Errorf("metric %s has no numeric top-level value", name)
				}
			}
			if doc["BacklogPerWorker"] != c.backlog {
				t.Errorf("BacklogPerWorker = %v, want %v", doc["BacklogPerWorker"], c.backlog)
			}
			if doc["OldestQueuedAgeSeconds"] != c.st.OldestQueuedAge.Seconds() {
				t.Errorf("OldestQueuedAgeSeconds = %v", doc["OldestQueuedAgeSeconds"])
			}
		})
	}
}
