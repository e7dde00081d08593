package store

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestOpenChoosesTheDatabase(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		o       Options
		wantErr string
	}{
		{"other scheme", Options{DatabaseURL: "mysql://db/oneshot"}, "must start with postgres://"},
		{"no data dir", Options{}, "--data-dir"},
		{"unreachable postgres", Options{DatabaseURL: "postgres://nobody:secret-pw@127.0.0.1:1/none?connect_timeout=2"}, "connect to PostgreSQL at 127.0.0.1:1/none"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Open(ctx, tc.o)
			if err == nil {
				b.Close()
				t.Fatalf("Open succeeded, want an error mentioning %q", tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Open error = %q, want it to mention %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "secret-pw") {
				t.Errorf("Open error reveals the database password: %q", err)
			}
		})
	}

	dir := filepath.Join(t.TempDir(), "nested", "data")
	b, err := Open(ctx, Options{DataDir: dir})
	if err != nil {
		t.Fatalf("Open SQLite: %v", err)
	}
	defer b.Close()
	if b.Kind() != "sqlite" {
		t.Errorf("Kind = %q, want sqlite", b.Kind())
	}
	info, err := os.Stat(dir)
	if err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("data dir mode = %v, %v; want 0700 (it holds task prompts)", info.Mode().Perm(), err)
	}
	if _, err := os.Stat(filepath.Join(dir, "oneshot.db")); err != nil {
		t.Errorf("no oneshot.db in the data dir: %v", err)
	}
	if err := b.CheckSchema(ctx); !errors.Is(err, ErrSchema) {
		t.Errorf("CheckSchema of a new database = %v, want ErrSchema", err)
	}
}

func TestCursorRoundTrip(t *testing.T) {
	created := time.Date(2026, 1, 2, 3, 4, 5, 678901000, time.UTC)
	c := encodeCursor(created, "t_abc,def")
	gotTime, gotID, err := decodeCursor(c)
	if err != nil || !gotTime.Equal(created) || gotID != "t_abc,def" {
		t.Errorf("decodeCursor(encodeCursor) = %v %q %v", gotTime, gotID, err)
	}
	for _, bad := range []string{"", "!!!", encodeCursorRaw("123"), encodeCursorRaw("abc,t1"), encodeCursorRaw("123,")} {
		if _, _, err := decodeCursor(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("decodeCursor(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

func encodeCursorRaw(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestSQLConstantsMatchTheLoop(t *testing.T) {
	for _, s := range allStates {
		if !s.Valid() {
			t.Errorf("allStates holds unknown state %q", s)
		}
		if quoted := "'" + string(s) + "'"; strings.Contains(finalStatesSQL, quoted) != s.Final() {
			t.Errorf("finalStatesSQL %s disagrees with loop about %s (final: %v)", finalStatesSQL, s, s.Final())
		}
	}
	if "t."+strings.ReplaceAll(returnTaskColumns, ", ", ", t.") != taskColumns {
		t.Errorf("taskColumns and returnTaskColumns list different columns")
	}
}
