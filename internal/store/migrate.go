package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Oneshot's schema is versioned by numbered SQL files per database
// (migrations/<kind>/NNNN_name.sql), applied in order; oneshot_schema records each
// version applied. River's tables are versioned by River's own migrations, which
// Migrate runs in the same transaction.

//go:embed migrations
var migrationFiles embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations(kind string) ([]migration, error) {
	dir := path.Join("migrations", kind)
	entries, err := fs.ReadDir(migrationFiles, dir)
	if err != nil {
		return nil, fmt.Errorf("read embedded migrations for %s: %w", kind, err)
	}
	var ms []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("embedded migration %s/%s is not named NNNN_name.sql", dir, e.Name())
		}
		b, err := fs.ReadFile(migrationFiles, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("embedded migrations for %s skip version %d (found %s)", kind, i+1, m.name)
		}
	}
	return ms, nil
}

// schemaVersion is the version of Oneshot's schema in the database; 0 when it has none.
func (c *core) schemaVersion(ctx context.Context, h handle) (int, error) {
	var exists bool
	if err := h.queryRow(ctx, c.tableExistsQuery(), "oneshot_schema").Scan(&exists); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	if !exists {
		return 0, nil
	}
	var v int
	if err := h.queryRow(ctx, `SELECT coalesce(max(version), 0) FROM oneshot_schema`).Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

func (c *core) Migrate(ctx context.Context) error {
	need := len(c.migrations)
	newer := func(v int) error {
		return fmt.Errorf("%w: database schema is at version %d, newer than this binary (version %d): upgrade oneshot", ErrSchema, v, need)
	}
	// Refuse before touching River's tables too.
	if v, err := c.schemaVersion(ctx, c); err != nil {
		return fmt.Errorf("migrate %s database: %w", c.kind(), err)
	} else if v > need {
		return fmt.Errorf("migrate %s database: %w", c.kind(), newer(v))
	}
	err := c.migrate(ctx, func(tx handle) error {
		current, err := c.schemaVersion(ctx, tx)
		if err != nil {
			return err
		}
		if current > need {
			return newer(current)
		}
		for _, m := range c.migrations[current:] {
			if _, err := tx.exec(ctx, m.sql); err != nil {
				return fmt.Errorf("apply migration %s: %w", m.name, err)
			}
			if _, err := tx.exec(ctx, `INSERT INTO oneshot_schema (version, applied_at) VALUES ($1, $2)`,
				m.version, c.time(c.stamp())); err != nil {
				return fmt.Errorf("record migration %s: %w", m.name, err)
			}
			c.log.InfoContext(ctx, "applied database migration", "version", m.version, "name", m.name, "database", c.kind())
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("migrate %s database: %w", c.kind(), err)
	}
	return nil
}

func (c *core) CheckSchema(ctx context.Context) error { return c.checkSchema(ctx, false) }

// checkSchema compares the database's schema with this binary's. A newer schema is
// accepted when allowNewer is set: a process that is already running keeps working
// while a release migrates the database ahead of replacing it.
func (c *core) checkSchema(ctx context.Context, allowNewer bool) error {
	v, err := c.schemaVersion(ctx, c)
	if err != nil {
		return err
	}
	need := len(c.migrations)
	switch {
	case v < need:
		return fmt.Errorf("%w: database schema is at version %d, this binary needs %d: run oneshot migrate", ErrSchema, v, need)
	case v > need && !allowNewer:
		return fmt.Errorf("%w: database schema is at version %d, newer than this binary (version %d): upgrade oneshot", ErrSchema, v, need)
	}
	applied, needed, err := c.riverVersions(ctx)
	if err != nil {
		return fmt.Errorf("read River's schema version: %w", err)
	}
	switch {
	case applied < needed:
		return fmt.Errorf("%w: River's queue tables are at version %d, this binary needs %d: run oneshot migrate", ErrSchema, applied, needed)
	case applied > needed && !allowNewer:
		return fmt.Errorf("%w: River's queue tables are at version %d, newer than this binary (version %d): upgrade oneshot", ErrSchema, applied, needed)
	}
	return nil
}

// Ping checks that the database answers and that its schema is not older than this
// binary needs. A newer schema passes, so /readyz of a running process does not fail
// when a release migrates the database before replacing it.
func (c *core) Ping(ctx context.Context) error {
	var one int
	if err := c.queryRow(ctx, `SELECT 1`).Scan(&one); err != nil {
		return fmt.Errorf("%s database unreachable: %w", c.kind(), err)
	}
	return c.checkSchema(ctx, true)
}
