package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// FuzzCreateTask sends arbitrary bodies and idempotency keys to POST /api/v1/tasks:
// whatever arrives, the answer is a 2xx with a task or a 4xx with a JSON error, never a
// 5xx or a panic.
func FuzzCreateTask(f *testing.F) {
	seeds := []string{
		`{"prompt": "fix the bug"}`,
		`{"prompt": "x", "profile": "large", "model": "opus", "max_iterations": 5, "priority": 4}`,
		`{"prompt": "x", "repo": {"url": "https://github.com/example/a", "ref": "main"}, "labels": {"team": "a"}}`,
		`{"prompt": "x", "repo": {"url": "https://u:p@github.com/example/a"}}`,
		`{"prompt": "x", "labels": {"": ""}}`,
		`{"prompt": "\u0000"}`,
		`{"prompt": "\ud800"}`,
		`{"prompt": "x", "max_iterations": -9223372036854775808}`,
		`{"prompt": "x", "model": "` + strings.Repeat("m", 200) + `"}`,
		`{"prompt": "x"} trailing`,
		`{"prompt": "x", "prompt": ""}`,
		`{"repo": {"url": "https://github.com/example/%zz"}}`,
		`[]`, `null`, `"str"`, `{`, ``, "\xff\xfe",
	}
	for i, s := range seeds {
		key := ""
		if i%3 == 0 {
			key = "k"
		}
		f.Add([]byte(s), key)
	}
	b := backends(f)[0]
	st := b.open(f)
	secret, hash := NewToken()
	if _, err := st.CreateToken(context.Background(), "fuzz", false, hash); err != nil {
		f.Fatal(err)
	}
	handler := New(Options{Store: st, Config: testConfig()})

	f.Fuzz(func(t *testing.T, body []byte, key string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		req := httptest.NewRequestWithContext(ctx, "POST", "/api/v1/tasks", strings.NewReader(string(body)))
		req.Header.Set("Authorization", "Bearer "+secret)
		req.Header.Set("Content-Type", "application/json")
		if key != "" && !strings.ContainsAny(key, "\r\n\x00") {
			req.Header["Idempotency-Key"] = []string{key}
		}
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("status %d for body %q: %s", rec.Code, body, rec.Body)
		}
		switch rec.Code {
		case http.StatusCreated, http.StatusOK:
			var task taskView
			if err := json.Unmarshal(rec.Body.Bytes(), &task); err != nil || task.ID == "" {
				t.Fatalf("status %d with body %s: %v", rec.Code, rec.Body, err)
			}
		default:
			var e apiErr
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
				t.Fatalf("status %d with body %s: %v", rec.Code, rec.Body, err)
			}
		}
	})
}
