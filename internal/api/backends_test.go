package api

import (
	"testing"

	"github.com/oneshot-run/oneshot/internal/store"
	"github.com/oneshot-run/oneshot/internal/store/storetest"
)

// backend opens a fresh, migrated store for one test.
type backend struct {
	name string
	open func(tb testing.TB) store.Store
}

// backends are the real stores the tests run on: SQLite always, PostgreSQL when
// ONESHOT_TEST_DATABASE_URL is set (its tests skip otherwise).
func backends(testing.TB) []backend {
	var out []backend
	for _, db := range storetest.Databases {
		out = append(out, backend{db.Kind, func(tb testing.TB) store.Store {
			return storetest.Migrated(tb, db.New(tb))
		}})
	}
	return out
}

// eachBackend runs test against every backend with a fresh harness.
// Tests that use it run in parallel with each other: each has its own databases.
func eachBackend(t *testing.T, mod func(*Options), test func(t *testing.T, h *harness)) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			test(t, newHarness(t, b.open(t), mod))
		})
	}
}
