package store_test

import (
	"testing"

	"github.com/oneshot-run/oneshot/internal/store/storetest"
)

func TestSQLite(t *testing.T) {
	t.Parallel()
	storetest.Run(t, storetest.SQLite)
}

func TestPostgres(t *testing.T) {
	t.Parallel()
	storetest.Run(t, storetest.Postgres)
}

func BenchmarkSQLite(b *testing.B) { storetest.Bench(b, storetest.SQLite) }

func BenchmarkPostgres(b *testing.B) { storetest.Bench(b, storetest.Postgres) }
