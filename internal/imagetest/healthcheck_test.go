package imagetest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestHealthcheck runs `oneshot healthcheck`, the images' HEALTHCHECK command (there is
// no curl in a distroless image), against endpoints in every state the container
// runtime can meet. Exit status 0 means healthy; anything else, unhealthy.
func TestHealthcheck(t *testing.T) {
	t.Parallel()
	serve := func(h http.HandlerFunc) string {
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		return srv.URL + "/readyz"
	}
	status := func(code int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/readyz" {
				http.NotFound(w, r)
				return
			}
			w.WriteHeader(code)
		}
	}
	// A server that accepts the request and never answers within the timeout.
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })
	slow := serve(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	})

	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string // in the output when unhealthy
		within   time.Duration
	}{
		{"ready", []string{"--url", serve(status(http.StatusOK))}, 0, "", 5 * time.Second},
		{"draining or database down (503)", []string{"--url", serve(status(http.StatusServiceUnavailable))}, 1, "503", 5 * time.Second},
		{"server error (500)", []string{"--url", serve(status(http.StatusInternalServerError))}, 1, "500", 5 * time.Second},
		{"wrong path (404)", []string{"--url", strings.TrimSuffix(serve(status(http.StatusOK)), "/readyz") + "/nope"}, 1, "404", 5 * time.Second},
		{"nothing listens", []string{"--url", "http://" + freeAddr(t) + "/readyz"}, 1, "unhealthy", 5 * time.Second},
		{"no answer within --timeout", []string{"--url", slow, "--timeout", "300ms"}, 1, "unhealthy", 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			began := time.Now()
			code, out := healthcheck(t, tt.args...)
			if code != tt.wantCode {
				t.Fatalf("oneshot healthcheck %s = %d (output %q), want %d", strings.Join(tt.args, " "), code, out, tt.wantCode)
			}
			if tt.wantOut != "" && !strings.Contains(out, tt.wantOut) {
				t.Errorf("output %q does not mention %q", out, tt.wantOut)
			}
			if took := time.Since(began); took > tt.within {
				t.Errorf("took %s, want under %s (the HEALTHCHECK's --timeout is 3s)", took.Round(time.Millisecond), tt.within)
			}
		})
	}
}

// TestHealthcheckDefaultURL checks that `oneshot healthcheck` with no flags probes the
// port the oneshot image's CMD serves on (the image's HEALTHCHECK passes no --url).
func TestHealthcheckDefaultURL(t *testing.T) {
	t.Parallel()
	_, out := healthcheck(t, "-h")
	df := parseDockerfile(t)
	st := df.stage(t, "oneshot")
	cmd := st.last("CMD")
	if cmd == nil || !cmd.exec {
		t.Fatal("the oneshot stage has no exec-form CMD")
	}
	addr := flagValue(cmd.json, "--addr")
	_, port, ok := strings.Cut(addr, ":")
	if !ok || port == "" {
		t.Fatalf("the oneshot stage's CMD %v has no --addr with a port", cmd.json)
	}
	want := "http://127.0.0.1:" + port + "/readyz"
	if !strings.Contains(out, want) {
		t.Errorf("oneshot healthcheck's default URL is not %s (the CMD serves on %s); its help says:\n%s", want, addr, out)
	}
	if hc := st.last("HEALTHCHECK"); hc != nil && flagValue(hc.json, "--url") != "" {
		t.Errorf("the oneshot stage's HEALTHCHECK passes --url; it relies on the default, which this test checks")
	}
}

// flagValue returns the value after name in argv ("" when absent).
func flagValue(argv []string, name string) string {
	for i, a := range argv {
		if a == name && i+1 < len(argv) {
			return argv[i+1]
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	return ""
}
