package imagetest

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The images' user (USER 65532:65532 in both targets). It needs no passwd entry here.
const (
	imageUID = 65532
	imageGID = 65532
)

// TestReadOnlyRoot emulates `docker run --read-only -v data:/data --tmpfs /tmp` without
// a container engine: the binary runs as an unprivileged user (root ignores permission
// bits, so the test needs root to switch users) for whom only the data directory and
// TMPDIR are writable. HOME, the working directory, the binary's directory and the fake
// agents' directory are read-only. `migrate`, then `serve` with a task whose worker writes
// a file in its workspace must succeed, and afterwards nothing may have changed outside
// the two writable directories.
func TestReadOnlyRoot(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the binary runs as uid 65532, the images' user, so that permission bits apply (root ignores them)")
	}
	cred := &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: imageUID, Gid: imageGID, Groups: []uint32{}}}
	if err := canStart(t, cred); err != nil {
		t.Skipf("cannot run a process as uid %d here: %v", imageUID, err)
	}

	// A tree the unprivileged user can read but not write (t.TempDir is private to root).
	base, err := os.MkdirTemp("", "oneshot-imagetest-ro-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = filepath.WalkDir(base, func(p string, e fs.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				_ = os.Chmod(p, 0o755)
			}
			return nil
		})
		_ = os.RemoveAll(base)
	})
	d := serviceDirs{
		home: filepath.Join(base, "ro", "home"), cwd: filepath.Join(base, "ro", "cwd"),
		scripts: filepath.Join(base, "ro", "scripts"),
		data:    filepath.Join(base, "data"), tmp: filepath.Join(base, "tmp"),
	}
	for _, dir := range []string{d.home, d.cwd, d.scripts, d.data, d.tmp} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeScript(t, filepath.Join(d.scripts, "worker.sh"), workerScript)
	writeScript(t, filepath.Join(d.scripts, "auditor.sh"), auditorScript)
	for _, dir := range []string{d.data, d.tmp} {
		if err := os.Chown(dir, imageUID, imageGID); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	readOnly := []string{base, filepath.Join(base, "ro"), d.home, d.cwd, d.scripts}
	for _, dir := range readOnly {
		if err := os.Chmod(dir, 0o555); err != nil {
			t.Fatal(err)
		}
	}
	watched := []string{filepath.Join(base, "ro"), build.binDir}
	before := snapshot(t, watched...)
	began := time.Now()

	addr, token := freeAddr(t), randomToken(t)
	env := d.env(addr, token)

	// migrate, as the one-off ECS task runs it before a release.
	mig := start(t, procOptions{args: []string{"migrate"}, env: env, dir: d.cwd, attr: cred})
	if code := mig.wait(60 * time.Second); code != 0 {
		t.Fatalf("migrate as uid %d exited %d:\n%s", imageUID, code, mig.stderr.String())
	}

	p := start(t, procOptions{args: []string{"serve"}, env: env, dir: d.cwd, attr: cred})
	url := "http://" + addr
	p.waitReady(url+"/readyz", 30*time.Second)
	tk := createTask(t, url, token, map[string]any{"prompt": "Write made-by-worker.txt", "profile": "imagetest"})
	done := waitTask(t, url, token, tk.ID, 60*time.Second, "completed", "failed", "rejected", "cancelled")
	if done.State != "completed" {
		t.Fatalf("task ended %s (error %q, verdict %q), want completed: the worker could not write its workspace?", done.State, done.Error, done.Verdict)
	}
	ws := strings.TrimSpace(strings.TrimPrefix(done.Result, "workspace="))
	if !under(ws, d.tmp) || ws == d.tmp {
		t.Errorf("the task's workspace was %q, want a directory under TMPDIR %s", ws, d.tmp)
	}
	if code := stop(p); code != 0 {
		t.Errorf("serve exited %d after SIGTERM, want 0", code)
	}

	if diff := compareSnapshots(before, snapshot(t, watched...)); diff != "" {
		t.Errorf("read-only paths changed:\n%s", diff)
	}
	if stray := ownedBy(t, imageUID, began, []string{base}, os.TempDir(), "/var/tmp", "/dev/shm"); len(stray) > 0 {
		t.Errorf("files written outside the data dir and TMPDIR: %v", stray)
	}
	if entries, _ := os.ReadDir(d.data); len(entries) == 0 {
		t.Error("nothing in the data dir: where did the SQLite database go?")
	}
	left, _ := filepath.Glob(filepath.Join(d.tmp, "oneshot-*"))
	if len(left) > 0 {
		t.Errorf("task workspaces left in TMPDIR after the task ended: %v", left)
	}
}

// fileState is what a snapshot records of one path.
type fileState struct {
	mode  fs.FileMode
	size  int64
	mtime time.Time
}

func snapshot(t *testing.T, roots ...string) map[string]fileState {
	t.Helper()
	out := map[string]fileState{}
	for _, root := range roots {
		err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			info, err := e.Info()
			if err != nil {
				return err
			}
			out[p] = fileState{info.Mode(), info.Size(), info.ModTime()}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func compareSnapshots(before, after map[string]fileState) string {
	var b strings.Builder
	for p, s := range after {
		old, ok := before[p]
		switch {
		case !ok:
			fmt.Fprintf(&b, "  created %s\n", p)
		case old != s:
			fmt.Fprintf(&b, "  changed %s\n", p)
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			fmt.Fprintf(&b, "  removed %s\n", p)
		}
	}
	return b.String()
}

// ownedBy lists files owned by uid and changed since `since` in dirs (two levels deep;
// world-writable places a process could write to), skipping the trees in skip.
func ownedBy(t *testing.T, uid int, since time.Time, skip []string, dirs ...string) []string {
	t.Helper()
	var out []string
	for _, dir := range dirs {
		root := filepath.Clean(dir)
		_ = filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				if e != nil && e.IsDir() && p != root {
					return fs.SkipDir
				}
				return nil
			}
			for _, s := range skip {
				if p == s {
					return fs.SkipDir
				}
			}
			if depth := strings.Count(strings.TrimPrefix(p, root), string(filepath.Separator)); depth > 2 {
				if e.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			info, err := e.Info()
			if err != nil {
				return nil
			}
			st, ok := info.Sys().(*syscall.Stat_t)
			if ok && int(st.Uid) == uid && !info.ModTime().Before(since.Add(-time.Second)) {
				out = append(out, p)
			}
			return nil
		})
	}
	return out
}
