package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"time"

	"mask.services/maskservice"
	"mask.services/maskservice/store/bolt"
)

// historyDays is the history the start-up measurement gives the daemon.
const historyDays = 30

// measureHistory starts the daemon on a data directory holding 30 days of history of 3
// sensors at 1 Hz, and reports its start-to-ready time and the file's size: opening a
// month-long log must not scan it.
func (b *bench) measureHistory(ctx context.Context) error {
	dir, err := os.MkdirTemp("", "maskbench-history-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	b.progressf("history: writing %d days of 3 sensors at 1 Hz", historyDays)
	start := time.Now()
	size, readings, err := writeHistory(ctx, dir, time.Now().Add(-historyDays*24*time.Hour), historyDays*86400)
	if err != nil {
		return fmt.Errorf("write the history: %w", err)
	}
	b.progressf("history: %d readings, %.1f MB, written in %v", readings, float64(size)/1e6, time.Since(start).Round(time.Millisecond))
	d, err := b.startDaemon(ctx, "history", false, "--data", dir)
	if err != nil {
		return err
	}
	defer b.stopDaemon(d, "history")
	fmt.Fprintf(b.out, "\n== history: daemon started on %d days of history (%d readings, %.1f MB) ==\n", historyDays, readings, float64(size)/1e6)
	fmt.Fprintf(b.out, "  start to ready: %s\n", ms(d.ready))
	b.readyMonth = d.ready
	b.fig("start_to_ready_month", msf(d.ready), "ms", 1)
	b.fig("history_bytes_per_reading", float64(size)/float64(readings), "bytes", 2)
	return nil
}

// writeHistory writes seconds of readings of P1, P2 and P3 from start into the database in
// dir, committing every simulated minute, and returns the bytes in use (the file's and the
// history segment's).
func writeHistory(ctx context.Context, dir string, start time.Time, seconds int) (int64, int, error) {
	db, err := bolt.Open(ctx, dir, bolt.Options{})
	if err != nil {
		return 0, 0, err
	}
	defer db.Close()
	w := db.NewHistoryWriter(bolt.HistoryOptions{})
	rng := rand.New(rand.NewPCG(1, 2))
	raw := []float64{5000, 2500, 5000}
	res := []float64{0.001, 0.0005, 0.1} // the simulator's register steps of P1, P2, P3
	for i := range seconds {
		t := start.Add(time.Duration(i) * time.Second)
		for s, id := range []string{"P1", "P2", "P3"} {
			raw[s] += float64(rng.IntN(21) - 10)
			w.Add(maskservice.Reading{SensorID: id, Time: t, Raw: raw[s], Value: raw[s] * res[s],
				Status: maskservice.StatusNormal})
		}
		if i%60 == 59 {
			if err := w.Commit(ctx); err != nil {
				return 0, 0, err
			}
		}
	}
	// As a stopped daemon leaves it: everything in the database file, nothing to move at
	// the start that is measured.
	if err := w.Checkpoint(ctx); err != nil {
		return 0, 0, err
	}
	_, used := db.HistoryFileBytes()
	return used, seconds * 3, nil
}
