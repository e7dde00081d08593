package runfiles

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oneshot-run/oneshot/internal/activity"
	"github.com/oneshot-run/oneshot/internal/loop"
)

func TestSaveLoadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	sf, lf, err := Paths(dir, "r-1")
	if err != nil {
		t.Fatal(err)
	}
	s := &State{Run: loop.Run{ID: "r-1", Task: "t", State: loop.AuditPending, MaxIterations: 3}, StateFile: sf, ActivityLog: lf}
	if err := Save(s); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"r-1", sf} {
		got, err := Load(dir, ref)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != loop.AuditPending || got.ActivityLog != lf || !filepath.IsAbs(got.ActivityLog) {
			t.Fatalf("Load(%s) = %+v", ref, got)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
	if _, err := Load(dir, "nope"); err == nil {
		t.Fatal("missing run loaded")
	}
	os.WriteFile(sf, []byte("{broken"), 0o600)
	if _, err := Load(dir, "r-1"); err == nil {
		t.Fatal("corrupt state file loaded")
	}
}

func TestLogSurvivesTornLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.ndjson")
	os.WriteFile(path, []byte(`{"seq":1,"type":"state","text":"queued"}`+"\n"+`{"seq":2,"ty`), 0o600)
	l, err := OpenLog(path)
	if err != nil {
		t.Fatal(err)
	}
	l.Emit(activity.Event{Seq: 3, Type: activity.Message, Text: "hi"})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	last, err := LastSeq(path)
	if err != nil || last != 3 {
		t.Fatalf("LastSeq = %d, %v; want 3", last, err)
	}
}

func TestFollowReadsUntilFinished(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.ndjson")
	l, err := OpenLog(path)
	if err != nil {
		t.Fatal(err)
	}
	var finished atomic.Bool
	go func() {
		for i := 1; i <= 50; i++ {
			l.Emit(activity.Event{Seq: int64(i), Type: activity.Message, Text: "line"})
			time.Sleep(time.Millisecond)
		}
		finished.Store(true)
	}()
	var seqs []int64
	err = Follow(context.Background(), path, 5*time.Millisecond, finished.Load, func(e activity.Event) error {
		seqs = append(seqs, e.Seq)
		return nil
	})
	if err != nil || len(seqs) != 50 || seqs[49] != 50 {
		t.Fatalf("followed %d events (err %v)", len(seqs), err)
	}
}
