package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	bbolt "go.etcd.io/bbolt"

	"mask.services/maskservice"
	"mask.services/maskservice/store/bolt"
)

// crashConfig is the three sensors on the simulator every 20 ms, committed every 100 ms.
const crashConfig = `
[storage]
commit_interval = "100ms"
[[bus]]
name = "sim"
driver = "sim"
[[sensor]]
id = "P1"
bus = "sim"
interval = "20ms"
[[sensor]]
id = "P2"
bus = "sim"
interval = "20ms"
[[sensor]]
id = "P3"
bus = "sim"
interval = "20ms"
`

// seenReading is a reading as a WebSocket client saw it: what the daemon had taken.
type seenReading struct {
	sensor, timestamp string
	value             *float64
}

// TestServe_CrashKeepsCommittedHistory kills the daemon with SIGKILL at random moments while it
// ingests, three times on one data directory. After each kill the file must open, pass bbolt's
// consistency check, and hold every reading a client saw that was taken more than the commit
// interval (plus the commit's own fsync, bounded here by 250 ms) before the kill.
func TestServe_CrashKeepsCommittedHistory(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "maskserviced")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "crash.toml")
	if err := os.WriteFile(cfgFile, []byte(crashConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	const commitInterval, fsyncBound = 100 * time.Millisecond, 250 * time.Millisecond
	checked := 0
	for round := range 3 {
		var stderr syncBuffer
		cmd := exec.Command(bin, "serve", "--config", cfgFile, "--data", data, "--listen", "127.0.0.1:0", "--demo")
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		addr := listenAddr(t, &stderr)
		seen := watchReadings(t, addr)
		time.Sleep(time.Duration(700+rng.IntN(900)) * time.Millisecond) // past the commit and fsync margin, then at random
		killed := time.Now()
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		readings := seen()

		path := filepath.Join(data, bolt.FileName)
		checkConsistent(t, path)
		db, err := bolt.Open(context.Background(), data, bolt.Options{})
		if err != nil {
			t.Fatalf("round %d: open after SIGKILL: %v", round, err)
		}
		logged := map[string]bool{}
		for _, id := range []string{"P1", "P2", "P3"} {
			err := db.ScanHistory(context.Background(), id, "bar", killed.Add(-time.Hour), killed.Add(time.Hour), func(r maskservice.Reading) bool {
				logged[id+" "+r.Time.UTC().Format("2006-01-02T15:04:05.000Z")+" "+fmt.Sprint(r.Value)] = true
				return true
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		durable := killed.Add(-commitInterval - fsyncBound)
		n, missing := 0, 0
		for _, r := range readings {
			ts, err := time.Parse(time.RFC3339Nano, r.timestamp)
			if err != nil || r.value == nil || !ts.Before(durable) {
				continue
			}
			n++
			if !logged[r.sensor+" "+r.timestamp+" "+fmt.Sprint(*r.value)] {
				missing++
				if missing <= 3 {
					t.Errorf("round %d: %s at %s (%v) was seen %v before the kill but is not in the log", round, r.sensor, r.timestamp, *r.value, killed.Sub(ts))
				}
			}
		}
		if n == 0 {
			t.Fatalf("round %d: no reading old enough to check (%d seen)", round, len(readings))
		}
		if missing > 0 {
			t.Fatalf("round %d: %d of %d readings missing", round, missing, n)
		}
		checked += n
	}
	t.Logf("%d readings checked over 3 kills", checked)
}

// listenAddr waits for the daemon's "http listening" log line and returns its address.
func listenAddr(tb testing.TB, stderr *syncBuffer) string {
	tb.Helper()
	var addr string
	waitFor(tb, 30*time.Second, "the listening log line", func() bool {
		for _, line := range strings.Split(stderr.String(), "\n") {
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "http listening" {
				addr = rec.Addr
				return true
			}
		}
		return false
	})
	return addr
}

// watchReadings records every reading in the sensors frames a WebSocket client gets, until
// the connection ends; the returned func waits for that and returns them.
func watchReadings(tb testing.TB, addr string) func() []seenReading {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	c, _, err := websocket.Dial(ctx, "ws://"+addr+"/api/ws/sensors?token="+signIn(tb, addr), nil)
	if err != nil {
		cancel()
		tb.Fatal(err)
	}
	var mu sync.Mutex
	var out []seenReading
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer cancel()
		defer c.CloseNow()
		for {
			_, data, err := c.Read(ctx)
			if err != nil {
				return
			}
			var frame map[string]json.RawMessage
			if json.Unmarshal(data, &frame) != nil {
				continue
			}
			for _, id := range []string{"P1", "P2", "P3"} {
				var r struct {
					Value     *float64 `json:"value"`
					Timestamp string   `json:"timestamp"`
				}
				if json.Unmarshal(frame[id], &r) == nil && r.Timestamp != "" {
					mu.Lock()
					out = append(out, seenReading{id, r.Timestamp, r.Value})
					mu.Unlock()
				}
			}
		}
	}()
	return func() []seenReading {
		<-done
		mu.Lock()
		defer mu.Unlock()
		return out
	}
}

// checkConsistent runs bbolt's consistency check on the file.
func checkConsistent(tb testing.TB, path string) {
	tb.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		tb.Fatalf("open %s after SIGKILL: %v", path, err)
	}
	defer db.Close()
	err = db.View(func(tx *bbolt.Tx) error {
		var errs []string
		for e := range tx.Check() {
			errs = append(errs, e.Error())
		}
		if len(errs) > 0 {
			return fmt.Errorf("%d problems: %s", len(errs), strings.Join(errs, "; "))
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("consistency check of %s: %v", path, err)
	}
}
