// Package runfiles keeps a local run on disk: a state file `<id>.json`, rewritten
// atomically at every checkpoint, and an activity log `<id>.ndjson` of normalised events,
// both in the logs directory.
package runfiles

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/oneshot-run/oneshot/internal/activity"
	"github.com/oneshot-run/oneshot/internal/loop"
)

// State is the state file's content: the run plus where its files are.
type State struct {
	loop.Run
	StateFile   string `json:"state_file"`
	ActivityLog string `json:"activity_log"`
	// OwnerPID is the oneshot process running the loop, so follow and resume can tell a
	// live run from one whose process died.
	OwnerPID int `json:"owner_pid,omitempty"`
}

// Paths returns the absolute state file and activity log paths of run id in dir.
func Paths(dir, id string) (stateFile, activityLog string, err error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", "", err
	}
	return filepath.Join(abs, id+".json"), filepath.Join(abs, id+".ndjson"), nil
}

// Save writes s to its state file atomically: a temporary file in the same directory,
// fsync, rename. A crash leaves either the old or the new file, and both are valid
// checkpoints. The directory is fsynced only when the file is first created (so the run
// is never lost); later renames skip it, since at worst a crash then resumes from the
// previous checkpoint, and each extra fsync costs milliseconds per transition.
func Save(s *State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(s.StateFile)
	tmp, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(s.StateFile)+"-*")
	if err != nil {
		return fmt.Errorf("write state file: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("write state file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write state file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write state file: %w", err)
	}
	_, statErr := os.Stat(s.StateFile)
	if err := os.Rename(tmp.Name(), s.StateFile); err != nil {
		return fmt.Errorf("write state file: %w", err)
	}
	if !errors.Is(statErr, os.ErrNotExist) {
		return nil
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// Load reads a state file. ref is a path to a state file, or a run id looked up in dir.
func Load(dir, ref string) (*State, error) {
	path := ref
	if !strings.HasSuffix(ref, ".json") && !strings.ContainsRune(ref, os.PathSeparator) {
		var err error
		if path, _, err = Paths(dir, ref); err != nil {
			return nil, err
		}
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no run %q: %s does not exist (see the runs in %s, or pass --logs-dir)", ref, path, dir)
	}
	if err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("state file %s is not valid JSON: %w", path, err)
	}
	if s.ID == "" || !s.State.Valid() {
		return nil, fmt.Errorf("state file %s has no run id or an unknown state %q", path, s.State)
	}
	if s.StateFile == "" {
		s.StateFile = path
	}
	return &s, nil
}

// Log appends events to an activity log. It is safe for concurrent use.
type Log struct {
	mu  sync.Mutex
	f   *os.File
	buf bytes.Buffer
	err error
}

// OpenLog opens (creating or appending to) the activity log at path. A trailing partial
// line left by a crash is terminated so the next event starts on its own line.
func OpenLog(path string) (*Log, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open activity log: %w", err)
	}
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, st.Size()-1); err == nil && last[0] != '\n' {
			_, _ = f.Write([]byte("\n"))
		}
	}
	return &Log{f: f}, nil
}

// Emit writes one event as a line. The first write error is kept and reported by Close.
func (l *Log) Emit(e activity.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return
	}
	l.buf.Reset()
	enc := json.NewEncoder(&l.buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		l.err = err
		return
	}
	_, l.err = l.f.Write(l.buf.Bytes())
}

// Close closes the log and reports the first write error.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.f.Close(); l.err == nil {
		l.err = err
	}
	return l.err
}

// LastSeq returns the highest sequence number in the log at path (0 when it is empty or
// missing), so a resumed run continues the numbering.
func LastSeq(path string) (int64, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var last int64
	err = Scan(f, func(e activity.Event) error {
		last = max(last, e.Seq)
		return nil
	})
	return last, err
}

// Scan calls fn for every well-formed event in r. Lines that are not events (a torn
// last line after a crash) are skipped.
func Scan(r io.Reader, fn func(activity.Event) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 && (err == nil || errors.Is(err, io.EOF)) {
			var e activity.Event
			if json.Unmarshal(line, &e) == nil && e.Type != "" {
				if ferr := fn(e); ferr != nil {
					return ferr
				}
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
