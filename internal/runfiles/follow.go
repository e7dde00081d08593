package runfiles

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"time"

	"github.com/oneshot-run/oneshot/internal/activity"
)

// Follow calls fn for every event of the activity log at path, then keeps reading new
// events as they are appended until finished reports true and the log has no more
// complete lines, or ctx is done. Only complete lines are read: a line being written is
// picked up on the next poll.
func Follow(ctx context.Context, path string, poll time.Duration, finished func() bool, fn func(activity.Event) error) error {
	var (
		f       *os.File
		pending []byte
		chunk   = make([]byte, 64<<10)
	)
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	for {
		// finished is checked before reading, so events written before the run ended
		// are always read before Follow returns.
		done := finished()
		if f == nil {
			var err error
			if f, err = os.Open(path); err != nil && !os.IsNotExist(err) {
				return err
			}
		}
		for f != nil {
			n, err := f.Read(chunk)
			pending = append(pending, chunk[:n]...)
			for {
				i := bytes.IndexByte(pending, '\n')
				if i < 0 {
					break
				}
				var e activity.Event
				if json.Unmarshal(pending[:i], &e) == nil && e.Type != "" {
					if ferr := fn(e); ferr != nil {
						return ferr
					}
				}
				pending = pending[i+1:]
			}
			if err == io.EOF || n == 0 {
				break
			}
			if err != nil {
				return err
			}
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(poll):
		}
	}
}
