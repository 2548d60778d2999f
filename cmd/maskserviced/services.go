package main

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// service is one long-running part of the daemon: run blocks until ctx is done (or, for a
// consumer of the event bus, until the bus closes) and returns nil or ctx's error when it
// ends as asked, any other error when it fails.
type service struct {
	name string
	run  func(ctx context.Context) error
	// drains marks a consumer of the event bus: it ends by itself once the bus is closed
	// and its queue is empty, so stopAll waits for that before it cancels it.
	drains bool
}

// running is a started service.
type running struct {
	name   string
	drains bool
	cancel context.CancelFunc
	done   chan struct{}
}

// startAll runs every service in the given order, each in its own goroutine with its own
// context, so that stopAll can end them one at a time in the reverse order. A service that
// fails on its own is reported to fail.
func startAll(svcs []service, fail func(error)) []*running {
	out := make([]*running, 0, len(svcs))
	for _, svc := range svcs {
		ctx, cancel := context.WithCancel(context.Background())
		r := &running{name: svc.name, drains: svc.drains, cancel: cancel, done: make(chan struct{})}
		go func() {
			defer close(r.done)
			if err := svc.run(ctx); err != nil && !errors.Is(err, context.Canceled) && ctx.Err() == nil {
				fail(fmt.Errorf("%s: %w", svc.name, err))
			}
		}()
		out = append(out, r)
	}
	return out
}

// stopAll ends the services in the reverse order of their start, waiting for each, within
// timeout in all. A consumer of the event bus (drains) is let finish its queue, since the
// services stopped before it (the monitor) have closed the bus, and is cancelled only when
// the time is up; the others are cancelled at once. It names the services that did not end
// in time.
func stopAll(started []*running, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	expired := false
	var late []string
	for i := len(started) - 1; i >= 0; i-- {
		r := started[i]
		if r.drains && !expired {
			select {
			case <-r.done:
			case <-deadline.C:
				expired = true
			}
		}
		r.cancel()
		if expired {
			select {
			case <-r.done:
			default:
				late = append(late, r.name)
			}
			continue
		}
		select {
		case <-r.done:
		case <-deadline.C:
			expired = true
			late = append(late, r.name)
		}
	}
	if len(late) > 0 {
		return fmt.Errorf("shutdown timed out waiting for %v", late)
	}
	return nil
}
