package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"
)

// riverJobs is the River side of a backend, for either driver: an insert-only client
// that enqueues and cancels jobs inside the store's transactions, migrations, and
// the clients NewQueue hands out.
type riverJobs[TTx any] struct {
	driver riverdriver.Driver[TTx]
	client *river.Client[TTx]
	log    *slog.Logger
	// tx recovers the driver's transaction from a store transaction.
	tx func(handle) TTx
}

func newRiverJobs[TTx any](driver riverdriver.Driver[TTx], log *slog.Logger, tx func(handle) TTx) (*riverJobs[TTx], error) {
	client, err := river.NewClient(driver, &river.Config{
		Logger: log,
		// River notifies workers of an insert at most once per FetchCooldown per
		// queue and client; a burst of submissions would otherwise leave all but the
		// first waiting for a worker's next poll.
		FetchCooldown: river.FetchCooldownMin,
	})
	if err != nil {
		return nil, fmt.Errorf("create River client: %w", err)
	}
	return &riverJobs[TTx]{driver: driver, client: client, log: log, tx: tx}, nil
}

func (j *riverJobs[TTx]) insertJob(ctx context.Context, tx handle, args TaskArgs, opts *river.InsertOpts) (int64, error) {
	res, err := j.client.InsertTx(ctx, j.tx(tx), args, opts)
	if err != nil {
		return 0, err
	}
	return res.Job.ID, nil
}

func (j *riverJobs[TTx]) cancelJob(ctx context.Context, tx handle, jobID int64) (rivertype.JobState, error) {
	job, err := j.client.JobCancelTx(ctx, j.tx(tx), jobID)
	if errors.Is(err, river.ErrNotFound) {
		return "", fmt.Errorf("job %d: %w", jobID, ErrNotFound)
	}
	if err != nil {
		return "", err
	}
	return job.State, nil
}

func (j *riverJobs[TTx]) migrator() (*rivermigrate.Migrator[TTx], error) {
	return rivermigrate.New(j.driver, &rivermigrate.Config{Logger: j.log})
}

// migrateRiver applies River's migrations, each in its own transaction: River
// requires that on PostgreSQL (a migration may use an enum value an earlier one added).
func (j *riverJobs[TTx]) migrateRiver(ctx context.Context) error {
	m, err := j.migrator()
	if err != nil {
		return err
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("migrate River's queue tables: %w", err)
	}
	return nil
}

// migrateRiverTx applies River's migrations within tx. River deprecates this because
// of PostgreSQL; SQLite has no such limit, and one transaction lets SQLite's write
// lock serialise concurrent `oneshot migrate` runs.
func (j *riverJobs[TTx]) migrateRiverTx(ctx context.Context, tx handle) error {
	m, err := j.migrator()
	if err != nil {
		return err
	}
	//nolint:staticcheck // see above: fine on SQLite, and what makes it atomic.
	if _, err := m.MigrateTx(ctx, j.tx(tx), rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("migrate River's queue tables: %w", err)
	}
	return nil
}

func (j *riverJobs[TTx]) riverVersions(ctx context.Context) (applied, needed int, err error) {
	m, err := j.migrator()
	if err != nil {
		return 0, 0, err
	}
	existing, err := m.ExistingVersions(ctx)
	if err != nil {
		return 0, 0, err
	}
	for _, v := range existing {
		applied = max(applied, v.Version)
	}
	for _, v := range m.AllVersions() {
		needed = max(needed, v.Version)
	}
	return applied, needed, nil
}

func (j *riverJobs[TTx]) newQueue(cfg river.Config) (Queue, error) {
	client, err := river.NewClient(j.driver, &cfg)
	if err != nil {
		return nil, err
	}
	return riverQueue[TTx]{client}, nil
}

// riverQueue hides River's transaction type parameter from the runtime.
type riverQueue[TTx any] struct{ c *river.Client[TTx] }

func (q riverQueue[TTx]) Start(ctx context.Context) error         { return q.c.Start(ctx) }
func (q riverQueue[TTx]) Stop(ctx context.Context) error          { return q.c.Stop(ctx) }
func (q riverQueue[TTx]) StopAndCancel(ctx context.Context) error { return q.c.StopAndCancel(ctx) }
func (q riverQueue[TTx]) Stopped() <-chan struct{}                { return q.c.Stopped() }

func (q riverQueue[TTx]) JobCancel(ctx context.Context, jobID int64) error {
	_, err := q.c.JobCancel(ctx, jobID)
	if errors.Is(err, river.ErrNotFound) {
		return fmt.Errorf("cancel job %d: %w", jobID, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("cancel job %d: %w", jobID, err)
	}
	return nil
}
