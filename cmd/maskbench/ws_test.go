package main

import (
	"context"
	"testing"
	"time"
)

// startTestBaseline serves the baseline at a fast frame rate for the length of the test.
func startTestBaseline(tb testing.TB, interval time.Duration, frameSize int) *baseline {
	tb.Helper()
	srv, err := startBaseline(interval, frameSize)
	if err != nil {
		tb.Fatalf("start baseline: %v", err)
	}
	tb.Cleanup(srv.close)
	return srv
}

func TestRunWS_Baseline(t *testing.T) {
	const clients, frames, size = 20, 3, 600
	srv := startTestBaseline(t, 50*time.Millisecond, size)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	closedBefore := false
	res, err := runWS(ctx, wsConfig{
		URL:            srv.url(),
		Clients:        clients,
		Frames:         frames,
		Interval:       50 * time.Millisecond,
		ConnectTimeout: 20 * time.Second,
		DialParallel:   8,
		BeforeClose: func() {
			srv.mu.Lock()
			closedBefore = len(srv.clients) == clients
			srv.mu.Unlock()
		},
		Progress: t.Logf,
	})
	if err != nil {
		t.Fatalf("runWS: %v", err)
	}
	if res.Stats.Missing != 0 || res.Stats.Gaps != 0 || res.Dropped != 0 {
		t.Errorf("missing %d, gaps %d, dropped %d (%s), want all 0", res.Stats.Missing, res.Stats.Gaps, res.Dropped, res.DropErr)
	}
	if got := len(res.Stats.Spreads); got != frames {
		t.Errorf("spreads for %d frames, want %d", got, frames)
	}
	if res.Last-res.First+1 != frames || res.First < 1 {
		t.Errorf("recorded seq %d..%d, want %d frames after the connect-time frame", res.First, res.Last, frames)
	}
	if res.Latency.N != clients*frames {
		t.Errorf("latency samples = %d, want %d", res.Latency.N, clients*frames)
	}
	if res.FrameBytes != size {
		t.Errorf("frame size = %d, want the padded %d", res.FrameBytes, size)
	}
	if !closedBefore {
		t.Errorf("BeforeClose did not see all %d clients connected", clients)
	}
	// Every client closes on return, so the baseline's set drains.
	err = waitUntil(ctx, 10*time.Millisecond, func() (bool, error) {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return len(srv.clients) == 0, nil
	})
	if err != nil {
		t.Errorf("baseline still has clients after runWS: %v", err)
	}
}

func TestRunWS_ConnectFailure(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// A port nothing listens on: the harness must fail, not report zero frames.
	srv := startTestBaseline(t, time.Second, 0)
	url := srv.url()
	srv.close()
	_, err := runWS(ctx, wsConfig{URL: url, Clients: 3, Frames: 1, Interval: time.Second, ConnectTimeout: 5 * time.Second, DialParallel: 1})
	if err == nil {
		t.Fatal("runWS against a closed port succeeded, want an error")
	}
}
