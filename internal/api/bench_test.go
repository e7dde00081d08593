package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkCreateTask measures POST /api/v1/tasks end to end through the handler: auth
// lookup, validation and the store's transactional insert with its queue job.
func BenchmarkCreateTask(b *testing.B) {
	for _, be := range backends(b) {
		b.Run(be.name, func(b *testing.B) {
			st := be.open(b)
			secret, hash := NewToken()
			if _, err := st.CreateToken(context.Background(), "bench", false, hash); err != nil {
				b.Fatal(err)
			}
			h := New(Options{Store: st, Config: testConfig()})
			body := `{"prompt": "fix the failing test", "labels": {"team": "bench"}}`
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest("POST", "/api/v1/tasks", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+secret)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusCreated {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}

// BenchmarkGetTask measures GET /api/v1/tasks/{id}: auth lookup, read and rendering.
func BenchmarkGetTask(b *testing.B) {
	for _, be := range backends(b) {
		b.Run(be.name, func(b *testing.B) {
			st := be.open(b)
			secret, hash := NewToken()
			if _, err := st.CreateToken(context.Background(), "bench", false, hash); err != nil {
				b.Fatal(err)
			}
			h := New(Options{Store: st, Config: testConfig()})
			req := httptest.NewRequest("POST", "/api/v1/tasks", strings.NewReader(`{"prompt": "x"}`))
			req.Header.Set("Authorization", "Bearer "+secret)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			loc := rec.Header().Get("Location")
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest("GET", loc, nil)
				req.Header.Set("Authorization", "Bearer "+secret)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}
