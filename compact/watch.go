package compact

import (
	"context"
	"time"
)

// Watch runs the compactor every interval until ctx ends, calling each
// with every run's report and error (a run's failure does not stop the
// watch: the next run tries again). A run that takes longer than the
// interval is followed by the next at once. It returns ctx's error.
func (c *Compactor) Watch(ctx context.Context, interval time.Duration, each func(*Report, error)) error {
	for {
		start := c.now()
		rep, err := c.Run(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		each(rep, err)
		wait := interval - c.now().Sub(start)
		if wait <= 0 {
			continue
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
