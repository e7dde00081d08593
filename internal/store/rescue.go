package store

import (
	"context"
	"fmt"
	"time"
)

// This file is the runtime's part of the store (written with the runtime, which calls
// it): releasing the tasks of worker processes that died, and forgetting a worker that
// stopped cleanly.
//
// River (v0.51) rescues a running job only by its age (RescueStuckJobsAfter), which
// cannot tell a dead worker from a healthy task that runs for an hour. So workers
// heartbeat (the workers table) and every worker process periodically calls RescueTasks:
// one idempotent UPDATE of River's job table, safe to run from many processes at once.
// River's ClientID is the worker id, so a running job's attempted_by names the process
// that holds it.

// RescueTasks makes the tasks of workers that have not heartbeated for deadAfter
// available again, and returns how many it released. It releases:
//
//   - running task jobs whose latest attempt (the last entry of River's attempted_by)
//     belongs to a worker without a heartbeat in deadAfter: the worker died while it
//     ran the task;
//   - finished (completed, cancelled, discarded) task jobs whose task is not in a final
//     state and whose task's worker has no heartbeat in deadAfter: a stale attempt that
//     was fenced off ended the shared job while its successor still ran the task, and
//     that successor then died too.
//
// The job keeps its attempt count (River increments it at each fetch and a snooze
// gives it back), so River's attempt counts the attempts that died. Its old
// scheduled_at puts it ahead of newer tasks.
func (c *core) RescueTasks(ctx context.Context, deadAfter time.Duration) (int, error) {
	if deadAfter <= 0 {
		return 0, fmt.Errorf("%w: rescue needs a positive silence, got %s", ErrInvalid, deadAfter)
	}
	lastAttemptBy := `json_extract(river_job.attempted_by, '$[#-1]')`
	if c.kind() == "postgres" {
		lastAttemptBy = `river_job.attempted_by[array_length(river_job.attempted_by, 1)]`
	}
	query := `UPDATE river_job SET state = 'available', finalized_at = NULL
		WHERE kind = $1 AND (
			(state = 'running' AND NOT EXISTS (
				SELECT 1 FROM workers w WHERE w.id = ` + lastAttemptBy + ` AND w.last_seen > $2))
			OR (state IN ('completed', 'cancelled', 'discarded') AND id IN (
				SELECT t.river_job_id FROM tasks t
				WHERE t.state NOT IN ` + finalStatesSQL + ` AND t.worker_id <> '' AND t.river_job_id IS NOT NULL
					AND NOT EXISTS (SELECT 1 FROM workers w WHERE w.id = t.worker_id AND w.last_seen > $2))))`
	n, err := c.exec(ctx, query, TaskArgs{}.Kind(), c.time(c.stamp().Add(-deadAfter)))
	if err != nil {
		return 0, fmt.Errorf("release the tasks of workers silent for %s: %w", deadAfter, err)
	}
	return int(n), nil
}

// RemoveWorker forgets a worker that stopped cleanly (after its drain), so it no
// longer counts as alive.
func (c *core) RemoveWorker(ctx context.Context, id string) error {
	if _, err := c.exec(ctx, `DELETE FROM workers WHERE id = $1`, id); err != nil {
		return fmt.Errorf("forget worker %s: %w", id, err)
	}
	return nil
}
