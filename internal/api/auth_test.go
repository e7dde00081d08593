package api

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
)

func TestNewToken(t *testing.T) {
	secret, hash := NewToken()
	if !strings.HasPrefix(secret, TokenPrefix) {
		t.Errorf("token %q does not start with %q", secret, TokenPrefix)
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(secret, TokenPrefix))
	if err != nil || len(raw) != 32 {
		t.Errorf("token body is not 32 bytes of base64url: %d bytes, %v", len(raw), err)
	}
	if string(hash) != string(HashToken(secret)) || len(hash) != 32 {
		t.Errorf("hash is not HashToken(secret)")
	}
	if other, _ := NewToken(); other == secret {
		t.Errorf("two tokens are equal")
	}
}

func TestAuth(t *testing.T) {
	const bootstrap = "bootstrap-secret-for-tests-0123456789"
	eachBackend(t, func(o *Options) { o.BootstrapToken = bootstrap }, func(t *testing.T, h *harness) {
		ctx := context.Background()
		revokedSecret, revokedHash := NewToken()
		tok, err := h.store.CreateToken(ctx, "old-ci", false, revokedHash)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.store.RevokeToken(ctx, tok.ID); err != nil {
			t.Fatal(err)
		}
		unknown, _ := NewToken()

		tests := []struct {
			name          string
			path          string
			authorization string
			want          int
			wantCode      string
			wantChallenge string
		}{
			{"no token", "/api/v1/tasks", "", http.StatusUnauthorized, "unauthorized", `Bearer realm="oneshot"`},
			{"not bearer", "/api/v1/tasks", "Basic dXNlcjpwYXNz", http.StatusUnauthorized, "unauthorized", `Bearer realm="oneshot"`},
			{"empty bearer", "/api/v1/tasks", "Bearer ", http.StatusUnauthorized, "unauthorized", `Bearer realm="oneshot"`},
			{"unknown token", "/api/v1/tasks", "Bearer " + unknown, http.StatusUnauthorized, "unauthorized", `Bearer realm="oneshot", error="invalid_token"`},
			{"huge token", "/api/v1/tasks", "Bearer " + strings.Repeat("x", 5000), http.StatusUnauthorized, "unauthorized", `Bearer realm="oneshot", error="invalid_token"`},
			{"revoked token", "/api/v1/tasks", "Bearer " + revokedSecret, http.StatusForbidden, "forbidden", ""},
			{"bootstrap token", "/api/v1/tasks", "Bearer " + bootstrap, http.StatusOK, "", ""},
			{"bootstrap prefix only", "/api/v1/tasks", "Bearer " + bootstrap[:10], http.StatusUnauthorized, "unauthorized", `Bearer realm="oneshot", error="invalid_token"`},
			{"stored token", "/api/v1/tasks", "Bearer " + h.token, http.StatusOK, "", ""},
			{"scheme in lower case", "/api/v1/tasks", "bearer " + h.token, http.StatusOK, "", ""},
			{"status needs a token", "/api/v1/status", "", http.StatusUnauthorized, "unauthorized", `Bearer realm="oneshot"`},
			{"openapi needs a token", "/api/v1/openapi.json", "", http.StatusUnauthorized, "unauthorized", `Bearer realm="oneshot"`},
			{"task needs a token", "/api/v1/tasks/x", "", http.StatusUnauthorized, "unauthorized", `Bearer realm="oneshot"`},
			{"events need a token", "/api/v1/tasks/x/events", "", http.StatusUnauthorized, "unauthorized", `Bearer realm="oneshot"`},
			{"healthz is public", "/healthz", "", http.StatusOK, "", ""},
			{"readyz is public", "/readyz", "", http.StatusOK, "", ""},
			{"metrics are public", "/metrics", "", http.StatusNotFound, "not_found", ""},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				resp := h.request("GET", tc.path, nil, "Authorization", tc.authorization)
				if tc.wantCode == "" {
					decode[map[string]any](t, resp, tc.want)
					return
				}
				e := decode[apiErr](t, resp, tc.want)
				if e.Error.Code != tc.wantCode || e.Error.Message == "" {
					t.Errorf("error = %+v, want code %s and a message", e.Error, tc.wantCode)
				}
				if got := resp.Header.Get("WWW-Authenticate"); got != tc.wantChallenge {
					t.Errorf("WWW-Authenticate = %q, want %q", got, tc.wantChallenge)
				}
			})
		}
	})
}

func TestCreatedByIsTheTokenName(t *testing.T) {
	eachBackend(t, nil, func(t *testing.T, h *harness) {
		task := h.createTask(map[string]any{"prompt": "x"})
		if task.CreatedBy != "test-admin" {
			t.Errorf("created_by = %q, want the token's name test-admin", task.CreatedBy)
		}
	})
}
