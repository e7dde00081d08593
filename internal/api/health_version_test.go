package api

import "testing"

// The deployment smoke test reads the version from /healthz to check which release
// answered through the test listener.
func TestHealthzReportsVersion(t *testing.T) {
	eachBackend(t, func(o *Options) { o.Version = "v1.4.0" }, func(t *testing.T, h *harness) {
		if got := decode[healthView](t, h.request("GET", "/healthz", nil, "Authorization", ""), 200); got.Version != "v1.4.0" {
			t.Errorf("healthz version = %q, want v1.4.0", got.Version)
		}
	})
}
