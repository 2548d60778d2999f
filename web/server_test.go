package web_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"mask.services/maskservice"
	"mask.services/maskservice/store/ring"
	"mask.services/maskservice/web"
	"mask.services/maskservice/web/ui"
)

type reading struct {
	SensorID  string   `json:"sensor_id"`
	Value     *float64 `json:"value"`
	RawValue  *float64 `json:"raw_value"`
	Unit      string   `json:"unit"`
	Status    string   `json:"status"`
	Quality   string   `json:"quality"`
	Fault     string   `json:"fault"`
	Timestamp string   `json:"timestamp"`
	DeviceID  string   `json:"device_id"`
}

func (r reading) time(tb testing.TB) time.Time {
	tb.Helper()
	t, err := time.Parse(time.RFC3339Nano, r.Timestamp)
	if err != nil {
		tb.Fatalf("timestamp %q: %v", r.Timestamp, err)
	}
	return t
}

func TestServer_Sensors(t *testing.T) {
	f := newFixture(t, fixtureConfig{})
	for _, tc := range []struct {
		name    string
		query   string
		want    int    // readings expected
		only    string // every reading is of this sensor
		status  int
		errName string // the parameter a 4xx error names
	}{
		{name: "default limit", query: "", want: min(100, 3*f.ring.Len("P1")), status: 200},
		{name: "limit 5", query: "?limit=5", want: 5, status: 200},
		{name: "limit max", query: "?limit=10000", want: f.ring.Len("P1") + f.ring.Len("P2") + f.ring.Len("P3"), status: 200},
		{name: "one sensor", query: "?sensor_id=P2&limit=7", want: 7, only: "P2", status: 200},
		{name: "limit 0", query: "?limit=0", status: 400, errName: "limit"},
		{name: "limit abc", query: "?limit=abc", status: 400, errName: "limit"},
		{name: "limit empty", query: "?limit=", status: 400, errName: "limit"},
		{name: "limit too big", query: "?limit=10001", status: 400, errName: "limit"},
		{name: "unknown sensor", query: "?sensor_id=P9", status: 404, errName: "sensor_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := f.get(t, "/api/sensors"+tc.query)
			if tc.status != 200 {
				code := maskservice.EINVALID
				if tc.status == 404 {
					code = maskservice.ENOTFOUND
				}
				wantError(t, res, tc.status, code, tc.errName)
				return
			}
			// A bare array, as the specification has it; the count is in a header.
			got := decode[[]reading](t, res)
			if n := res.header.Get("X-Total-Count"); len(got) != tc.want || n != strconv.Itoa(tc.want) {
				t.Fatalf("%d readings, X-Total-Count %q, want %d", len(got), n, tc.want)
			}
			for i, r := range got {
				if tc.only != "" && r.SensorID != tc.only {
					t.Errorf("reading %d is of %s, want only %s", i, r.SensorID, tc.only)
				}
				if r.DeviceID != "C15.25.1010" {
					t.Errorf("reading %d: device_id %q, want the device's", i, r.DeviceID)
				}
				if i > 0 && r.time(t).After(got[i-1].time(t)) {
					t.Errorf("reading %d (%s) is newer than reading %d: want newest first", i, r.Timestamp, i-1)
				}
			}
		})
	}
}

func TestServer_Current(t *testing.T) {
	t.Run("after rounds", func(t *testing.T) {
		f := newFixture(t, fixtureConfig{faults: map[string]error{"P3": errors.New("read timeout")}})
		res := f.get(t, "/api/sensors/current")
		if res.status != 200 {
			t.Fatalf("status %d: %s", res.status, res.body)
		}
		type sensor struct {
			reading
			Name     string            `json:"name"`
			Names    map[string]string `json:"names"`
			Range    [2]float64        `json:"range"`
			Normal   [2]float64        `json:"normal"`
			Warning  [2]float64        `json:"warning"`
			Interval float64           `json:"interval"`
		}
		got := decode[struct {
			Seq     uint64            `json:"seq"`
			Order   []string          `json:"order"`
			Sensors map[string]sensor `json:"sensors"`
		}](t, res)
		if round := f.mon.Current(); got.Seq != round.Seq {
			t.Errorf("seq %d, want the newest round %d", got.Seq, round.Seq)
		}
		if !slices.Equal(got.Order, []string{"P1", "P2", "P3"}) {
			t.Errorf("order %v", got.Order)
		}
		p1 := got.Sensors["P1"]
		if p1.Names["pl"] != "Ciśnienie 1" || p1.Names["en"] != "Pressure 1" || len(p1.Names) != 2 {
			t.Errorf("P1 names %v, want the Polish and English defaults", p1.Names)
		}
		if p1.Name != "Pressure 1" || p1.Unit != "bar" || p1.Range != [2]float64{0, 10} ||
			p1.Normal != [2]float64{2, 8} || p1.Warning != [2]float64{1.5, 9} || p1.Interval != 0.01 { // the fixture polls every 10 ms
			t.Errorf("P1 configuration %+v", p1)
		}
		if p1.Value == nil || *p1.Value < 5 || *p1.Value > 5.1 || p1.Status != "normal" || p1.Quality != "good" || p1.Fault != "" {
			t.Errorf("P1 reading %+v", p1.reading)
		}
		p3 := got.Sensors["P3"]
		if p3.Value != nil || p3.RawValue != nil || p3.Quality != "bad" || p3.Status != "unknown" || p3.Fault != "read timeout" {
			t.Errorf("failed P3 reading %+v, want null values, bad, unknown, the fault", p3.reading)
		}
		if again := f.get(t, "/api/sensors/current"); string(again.body) != string(res.body) {
			t.Errorf("same round, different answers:\n%s\n%s", res.body, again.body)
		}
	})
	t.Run("before the first round", func(t *testing.T) {
		f := newFixture(t, fixtureConfig{noRun: true})
		wantError(t, f.get(t, "/api/sensors/current"), 503, maskservice.EUNAVAILABLE, "round")
	})
}

func TestServer_History(t *testing.T) {
	f := newFixture(t, fixtureConfig{})
	all := f.ring.Range("P1", time.Time{}, f.clock.Now(), nil)
	mid := all[len(all)/2].Time
	rfc := func(t time.Time) string { return url.QueryEscape(t.Format(time.RFC3339Nano)) }
	inWindow := len(f.ring.Range("P1", mid, f.clock.Now(), nil))
	type history struct {
		SensorID  string    `json:"sensor_id"`
		Unit      string    `json:"unit"`
		StartTime string    `json:"start_time"`
		EndTime   string    `json:"end_time"`
		Count     int       `json:"count"`
		Points    []reading `json:"points"`
	}
	for _, tc := range []struct {
		name       string
		target     string
		count      int // readings in range
		maxPoints  int // at most this many points
		status     int
		code, want string // a 4xx error's code and what its message names
	}{
		{name: "default range", target: "/api/sensors/P1/history", count: len(all), maxPoints: len(all), status: 200},
		{name: "query form", target: "/api/sensors/history?sensor_id=P1", count: len(all), maxPoints: len(all), status: 200},
		{name: "downsampled", target: "/api/sensors/P1/history?max_points=4&start_time=" + rfc(all[0].Time) + "&end_time=" + rfc(all[len(all)-1].Time), count: len(all), maxPoints: 4, status: 200},
		{name: "window", target: "/api/sensors/P1/history?start_time=" + rfc(mid), count: inWindow, maxPoints: inWindow, status: 200},
		{name: "unencoded offset", target: "/api/sensors/P1/history?start_time=" + mid.In(time.FixedZone("", 7200)).Format(time.RFC3339Nano), count: inWindow, maxPoints: inWindow, status: 200},
		// Python's datetime.utcnow().isoformat(): no zone, microseconds; the specification's times are UTC.
		{name: "naive time is UTC", target: "/api/sensors/P1/history?start_time=" + mid.UTC().Format("2006-01-02T15:04:05.000000"), count: inWindow, maxPoints: inWindow, status: 200},
		{name: "naive time with a space", target: "/api/sensors/P1/history?start_time=" + url.QueryEscape(mid.UTC().Format("2006-01-02 15:04:05.000000")), count: inWindow, maxPoints: inWindow, status: 200},
		{name: "offset after a space", target: "/api/sensors/P1/history?start_time=" + strings.Replace(mid.In(time.FixedZone("", 7200)).Format("2006-01-02 15:04:05.000000-07:00"), " ", "%20", 1), count: inWindow, maxPoints: inWindow, status: 200},
		{name: "empty future", target: "/api/sensors/P1/history?start_time=" + rfc(f.clock.Now().Add(time.Hour)) + "&end_time=" + rfc(f.clock.Now().Add(2*time.Hour)), status: 200},
		{name: "unknown sensor", target: "/api/sensors/P9/history", status: 404, code: maskservice.ENOTFOUND, want: "P9"},
		{name: "unknown sensor in query", target: "/api/sensors/history?sensor_id=P9", status: 404, code: maskservice.ENOTFOUND, want: "P9"},
		{name: "naive time with a bad month", target: "/api/sensors/P1/history?start_time=2025-13-01T00:00:00", status: 400, code: maskservice.EINVALID, want: "start_time"},
		{name: "naive time with a bad day", target: "/api/sensors/history?end_time=2025-02-30", status: 400, code: maskservice.EINVALID, want: "end_time"},
		{name: "malformed start", target: "/api/sensors/P1/history?start_time=yesterday", status: 400, code: maskservice.EINVALID, want: "start_time"},
		{name: "malformed end", target: "/api/sensors/P1/history?end_time=2025-13-01T00:00:00Z", status: 400, code: maskservice.EINVALID, want: "end_time"},
		{name: "end before start", target: "/api/sensors/P1/history?start_time=2025-01-02T00:00:00Z&end_time=2025-01-01T00:00:00Z", status: 400, code: maskservice.EINVALID, want: "end_time"},
		{name: "span over 400 days", target: "/api/sensors/P1/history?start_time=2020-01-01T00:00:00Z&end_time=2025-01-01T00:00:00Z", status: 400, code: maskservice.EINVALID, want: "start_time"},
		{name: "max_points 1", target: "/api/sensors/P1/history?max_points=1", status: 400, code: maskservice.EINVALID, want: "max_points"},
		{name: "max_points too big", target: "/api/sensors/P1/history?max_points=10001", status: 400, code: maskservice.EINVALID, want: "max_points"},
		{name: "max_points huge", target: "/api/sensors/P1/history?max_points=99999999999999999999", status: 400, code: maskservice.EINVALID, want: "max_points"},
		{name: "max_points abc", target: "/api/sensors/P1/history?max_points=abc", status: 400, code: maskservice.EINVALID, want: "max_points"},
		{name: "format", target: "/api/sensors/P1/history?format=xml", status: 400, code: maskservice.EINVALID, want: "format"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := f.get(t, tc.target)
			if tc.status != 200 {
				wantError(t, res, tc.status, tc.code, tc.want)
				return
			}
			got := decode[history](t, res)
			if got.SensorID != "P1" || got.Unit != "bar" {
				t.Errorf("sensor %q unit %q", got.SensorID, got.Unit)
			}
			if got.Count != tc.count {
				t.Errorf("count %d, want %d", got.Count, tc.count)
			}
			if len(got.Points) > tc.maxPoints || (tc.count > 0 && len(got.Points) < 2) {
				t.Errorf("%d points, want 2..%d", len(got.Points), tc.maxPoints)
			}
			for i := 1; i < len(got.Points); i++ {
				if got.Points[i].time(t).Before(got.Points[i-1].time(t)) {
					t.Errorf("point %d is older than point %d: want oldest first", i, i-1)
				}
			}
		})
	}
	t.Run("every sensor without sensor_id", func(t *testing.T) {
		res := f.get(t, "/api/sensors/history?max_points=5&start_time="+rfc(mid))
		got := decode[[]history](t, res)
		var ids []string
		for _, h := range got {
			ids = append(ids, h.SensorID)
			if want := len(f.ring.Range(h.SensorID, mid, f.clock.Now(), nil)); h.Count != want || len(h.Points) > 5 || len(h.Points) < 2 {
				t.Errorf("%s: count %d (want %d), %d points (want 2..5)", h.SensorID, h.Count, want, len(h.Points))
			}
			if h.StartTime != mid.UTC().Format("2006-01-02T15:04:05.000Z") {
				t.Errorf("%s: start_time %s, want %s", h.SensorID, h.StartTime, mid.UTC())
			}
		}
		if !slices.Equal(ids, []string{"P1", "P2", "P3"}) || res.header.Get("X-Total-Count") != "3" {
			t.Errorf("sensors %v, X-Total-Count %q; want P1, P2, P3 in configuration order", ids, res.header.Get("X-Total-Count"))
		}
		csvRes := f.get(t, "/api/sensors/history?format=csv&start_time="+rfc(mid))
		rows, err := csv.NewReader(bytes.NewReader(csvRes.body)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		want := 1
		for _, id := range ids {
			want += len(f.ring.Range(id, mid, f.clock.Now(), nil))
		}
		if len(rows) != want || rows[1][1] != "P1" || rows[len(rows)-1][1] != "P3" {
			t.Errorf("csv of every sensor: %d rows (want %d), first %v, last %v", len(rows), want, rows[1], rows[len(rows)-1])
		}
	})
	t.Run("downsampling keeps each bucket's extremes", func(t *testing.T) {
		type bucket struct {
			reading
			Min, Max *float64
			Count    int
		}
		got := decode[struct {
			Count         int      `json:"count"`
			Downsampled   bool     `json:"downsampled"`
			BucketSeconds float64  `json:"bucket_seconds"`
			Points        []bucket `json:"points"`
		}](t, f.get(t, "/api/sensors/P1/history?max_points=2&start_time="+rfc(all[0].Time)+"&end_time="+rfc(all[len(all)-1].Time)))
		if !got.Downsampled || got.BucketSeconds <= 0 || len(got.Points) != 2 {
			t.Fatalf("downsampled %v, bucket %vs, %d points; want 2 buckets", got.Downsampled, got.BucketSeconds, len(got.Points))
		}
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, r := range all {
			lo, hi = min(lo, r.Value), max(hi, r.Value)
		}
		n := 0
		blo, bhi := math.Inf(1), math.Inf(-1)
		for _, p := range got.Points {
			n += p.Count
			if p.Min == nil || p.Max == nil || *p.Min > *p.Value || *p.Value > *p.Max {
				t.Fatalf("bucket %+v: want min <= mean <= max", p)
			}
			blo, bhi = min(blo, *p.Min), max(bhi, *p.Max)
		}
		if n != got.Count || blo != lo || bhi != hi {
			t.Errorf("buckets hold %d readings (want %d), min %g max %g (want %g %g)", n, got.Count, blo, bhi, lo, hi)
		}
	})
	t.Run("csv", func(t *testing.T) {
		res := f.get(t, "/api/sensors/P1/history?format=csv")
		if res.status != 200 || !strings.HasPrefix(res.header.Get("Content-Type"), "text/csv") {
			t.Fatalf("status %d, type %q", res.status, res.header.Get("Content-Type"))
		}
		rows, err := csv.NewReader(bytes.NewReader(res.body)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != len(all)+1 || strings.Join(rows[0], ",") != "timestamp,sensor_id,value,raw_value,unit,status,quality,fault" {
			t.Fatalf("%d rows (want %d and a header), header %v", len(rows), len(all)+1, rows[0])
		}
		if v, _ := strconv.ParseFloat(rows[1][2], 64); v != all[0].Value || rows[1][1] != "P1" || rows[1][5] != all[0].Status.String() {
			t.Errorf("first row %v, want %+v", rows[1], all[0])
		}
	})
}

// The log answers for the range before the ring's oldest reading, and the answer is the two
// joined: every reading once, in time order.
func TestServer_HistoryFromLog(t *testing.T) {
	var logged []maskservice.Reading
	f := newFixture(t, fixtureConfig{opts: func(o *web.Options) { o.History = &fakeLog{rs: &logged} }})
	inRing := f.ring.Range("P1", time.Time{}, f.clock.Now(), nil)
	first := inRing[0].Time
	for i := range 50 {
		logged = append(logged, maskservice.Reading{SensorID: "P1", Unit: "bar", Time: first.Add(time.Duration(i-50) * time.Minute),
			Value: float64(i), Raw: float64(i), Status: maskservice.StatusNormal})
	}
	// The log also has the ring's readings (committed since); they must not come twice.
	logged = append(logged, inRing...)
	got := decode[struct {
		Count  int       `json:"count"`
		Points []reading `json:"points"`
	}](t, f.get(t, "/api/sensors/P1/history?max_points=10000&start_time="+url.QueryEscape(first.Add(-2*time.Hour).Format(time.RFC3339Nano))))
	if got.Count != 50+len(inRing) || len(got.Points) != got.Count {
		t.Fatalf("count %d, %d points; want %d", got.Count, len(got.Points), 50+len(inRing))
	}
	for i := 1; i < len(got.Points); i++ {
		if !got.Points[i].time(t).After(got.Points[i-1].time(t)) {
			t.Fatalf("point %d not after point %d", i, i-1)
		}
	}
}

// fakeLog is a HistoryLog over a slice, answering [start, end) as the bolt log does.
type fakeLog struct{ rs *[]maskservice.Reading }

func (l *fakeLog) ScanHistory(ctx context.Context, id, unit string, start, end time.Time, fn func(maskservice.Reading) bool) error {
	for _, r := range *l.rs {
		if r.SensorID == id && !r.Time.Before(start) && r.Time.Before(end) && !fn(r) {
			break
		}
	}
	return ctx.Err()
}

func TestServer_DeviceStatus(t *testing.T) {
	type status struct {
		DeviceID      string   `json:"device_id"`
		Status        string   `json:"status"`
		LastHeartbeat *string  `json:"last_heartbeat"`
		DataQuality   float64  `json:"data_quality"`
		UptimeSeconds float64  `json:"uptime_seconds"`
		HostUptime    *float64 `json:"host_uptime_seconds"`
		Memory        *struct {
			TotalBytes uint64 `json:"total_bytes"`
		} `json:"memory"`
		Version string `json:"version"`
		Sensors []struct {
			SensorID string `json:"sensor_id"`
			Quality  string `json:"quality"`
			Status   string `json:"status"`
			Reads    uint64 `json:"reads"`
			Errors   uint64 `json:"errors"`
		} `json:"sensors"`
		Rounds uint64 `json:"rounds"`
		// The specification's names.
		PollRTTMs      float64  `json:"poll_rtt_ms"`
		NetworkLatency *float64 `json:"network_latency"`
		Uptime         *float64 `json:"uptime"`
		MemoryUsage    *float64 `json:"memory_usage"`
	}
	t.Run("online", func(t *testing.T) {
		f := newFixture(t, fixtureConfig{})
		res := f.get(t, "/api/device/status")
		got := decode[status](t, res)
		if got.DeviceID != "C15.25.1010" || got.Version != "test" || got.Status != "ONLINE" {
			t.Errorf("device %q version %q status %q", got.DeviceID, got.Version, got.Status)
		}
		if got.LastHeartbeat == nil || got.DataQuality != 1 || got.Rounds < minReads || got.UptimeSeconds < 60 || got.UptimeSeconds > 600 {
			t.Errorf("heartbeat %v quality %g rounds %d uptime %g", got.LastHeartbeat, got.DataQuality, got.Rounds, got.UptimeSeconds)
		}
		if got.Memory == nil || got.Memory.TotalBytes != 1<<30 || got.HostUptime == nil || *got.HostUptime != 5400 {
			t.Errorf("host facts %+v %v", got.Memory, got.HostUptime)
		}
		// fakeHost: 600 MiB of 1 GiB available.
		if got.MemoryUsage == nil || math.Abs(*got.MemoryUsage-(1-600.0/1024)) > 1e-9 || got.NetworkLatency == nil ||
			*got.NetworkLatency != got.PollRTTMs || got.Uptime == nil || *got.Uptime != got.UptimeSeconds {
			t.Errorf("specification's names: memory_usage %v network_latency %v (poll_rtt_ms %v) uptime %v (uptime_seconds %v)",
				got.MemoryUsage, got.NetworkLatency, got.PollRTTMs, got.Uptime, got.UptimeSeconds)
		}
		if len(got.Sensors) != 3 || got.Sensors[0].SensorID != "P1" || got.Sensors[0].Reads < minReads || got.Sensors[0].Quality != "good" {
			t.Errorf("sensors %+v", got.Sensors)
		}
	})
	t.Run("a sensor fails", func(t *testing.T) {
		f := newFixture(t, fixtureConfig{faults: map[string]error{"P2": errors.New("crc error")}})
		got := decode[status](t, f.get(t, "/api/device/status"))
		p2 := got.Sensors[1]
		if got.Status != "ERROR" || p2.Quality != "bad" || p2.Status != "unknown" || p2.Errors != p2.Reads || p2.Errors == 0 {
			t.Errorf("status %q, P2 %+v", got.Status, p2)
		}
	})
	t.Run("every sensor times out", func(t *testing.T) {
		err := errors.New("no response from transducer")
		f := newFixture(t, fixtureConfig{faults: map[string]error{"P1": err, "P2": err, "P3": err}})
		if got := decode[status](t, f.get(t, "/api/device/status")); got.Status != "ERROR" || got.DataQuality != 0 {
			t.Errorf("status %q quality %g, want ERROR 0", got.Status, got.DataQuality)
		}
	})
	t.Run("the line is gone", func(t *testing.T) {
		err := fmt.Errorf("read: %w", maskservice.ErrDisconnected)
		f := newFixture(t, fixtureConfig{faults: map[string]error{"P1": err, "P2": err, "P3": err}})
		if got := decode[status](t, f.get(t, "/api/device/status")); got.Status != "OFFLINE" || got.DataQuality != 0 {
			t.Errorf("status %q quality %g, want OFFLINE 0", got.Status, got.DataQuality)
		}
	})
	t.Run("host facts unreadable", func(t *testing.T) {
		f := newFixture(t, fixtureConfig{opts: func(o *web.Options) { o.Host = fakeHost{err: errors.New("read /proc/meminfo: permission denied")} }})
		res := f.get(t, "/api/device/status")
		got := decode[status](t, res)
		if res.status != 200 || got.Memory != nil || got.HostUptime != nil || got.MemoryUsage != nil || got.Status != "ONLINE" {
			t.Errorf("status %d memory %+v (usage %v) host uptime %v device %q", res.status, got.Memory, got.MemoryUsage, got.HostUptime, got.Status)
		}
		if !strings.Contains(f.logs.String(), "permission denied") {
			t.Errorf("the host error is not logged:\n%s", f.logs)
		}
	})
	t.Run("before the first round", func(t *testing.T) {
		f := newFixture(t, fixtureConfig{noRun: true})
		got := decode[status](t, f.get(t, "/api/device/status"))
		if got.Status != "CONNECTING" || got.LastHeartbeat != nil || got.Sensors[0].Status != "unknown" || got.Sensors[0].Quality != "bad" {
			t.Errorf("status %q heartbeat %v sensors %+v", got.Status, got.LastHeartbeat, got.Sensors)
		}
	})
}

func TestServer_Probes(t *testing.T) {
	notReady := errors.New("history log is still opening")
	f := newFixture(t, fixtureConfig{noRun: true})
	g := newFixture(t, fixtureConfig{noRun: true, opts: func(o *web.Options) { o.Ready = func() error { return notReady } }})
	if res := f.get(t, "/healthz"); res.status != 200 || decode[map[string]string](t, res)["status"] != "ok" {
		t.Errorf("healthz %d %s", res.status, res.body)
	}
	if res := g.get(t, "/healthz"); res.status != 200 {
		t.Errorf("healthz when not ready: %d, want 200 (alive)", res.status)
	}
	if res := f.get(t, "/readyz"); res.status != 200 || decode[map[string]string](t, res)["status"] != "ready" {
		t.Errorf("readyz %d %s", res.status, res.body)
	}
	wantError(t, g.get(t, "/readyz"), 503, maskservice.EUNAVAILABLE, notReady.Error())
}

func TestServer_Docs(t *testing.T) {
	f := newFixture(t, fixtureConfig{noRun: true})
	spec := f.get(t, "/api/openapi.json")
	file, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	if spec.status != 200 || string(spec.body) != string(file) {
		t.Errorf("GET /api/openapi.json: %d, %d bytes; want 200 and openapi.json (%d bytes)", spec.status, len(spec.body), len(file))
	}
	docs := f.get(t, "/api/docs")
	body := string(docs.body)
	if docs.status != 200 || !strings.HasPrefix(docs.header.Get("Content-Type"), "text/html") || !strings.Contains(body, "/api/openapi.json") {
		t.Errorf("GET /api/docs: %d %q", docs.status, docs.header.Get("Content-Type"))
	}
	// Offline: the page and its script may load nothing from elsewhere.
	script := f.get(t, "/api/docs.js")
	for _, external := range []string{"http://", "https://", "//cdn", "@import"} {
		if strings.Contains(body, external) || strings.Contains(string(script.body), external) {
			t.Errorf("the docs page refers to %q: it must work without internet access", external)
		}
	}
}

func TestServer_UI(t *testing.T) {
	f := newFixture(t, fixtureConfig{noRun: true})
	// The binary holds the Vite build after `make build`, the placeholder after a plain go build.
	index, err := fs.ReadFile(ui.FS(), "index.html")
	must(t, err)
	if want := "the operator UI is not built yet"; !ui.Built() && !strings.Contains(string(index), want) {
		t.Fatalf("placeholder page does not say %q", want)
	}
	for _, path := range []string{"/", "/some/spa/path", "/index.html"} {
		t.Run(path, func(t *testing.T) {
			res := f.get(t, path)
			if res.status != 200 || !strings.HasPrefix(res.header.Get("Content-Type"), "text/html") ||
				!bytes.Equal(res.body, index) {
				t.Errorf("status %d type %q body %.80s", res.status, res.header.Get("Content-Type"), res.body)
			}
		})
	}
	t.Run("missing build file", func(t *testing.T) {
		wantError(t, f.get(t, "/assets/index-gone.js"), 404, maskservice.ENOTFOUND, "reload")
	})
	t.Run("unknown api path", func(t *testing.T) {
		wantError(t, f.get(t, "/api/nope"), 404, maskservice.ENOTFOUND, "/api/nope")
		wantError(t, f.get(t, "/api"), 404, maskservice.ENOTFOUND, "/api")
		// A long path is not repeated whole in the message.
		long := f.get(t, "/api/"+strings.Repeat("x", 5000))
		wantError(t, long, 404, maskservice.ENOTFOUND, "/api/xxx")
		if len(long.body) > 300 {
			t.Errorf("404 for a 5000-byte path has a %d-byte body", len(long.body))
		}
	})
	t.Run("wrong method", func(t *testing.T) {
		for _, target := range []string{"/api/sensors", "/api/sensors/P1/history", "/metrics", "/"} {
			res := f.do(t, http.MethodPost, target)
			wantError(t, res, 405, maskservice.EINVALID, "POST")
			if allow := res.header.Get("Allow"); allow != "GET, HEAD" {
				t.Errorf("%s: Allow %q", target, allow)
			}
		}
	})
	t.Run("from a directory", func(t *testing.T) {
		dir := t.TempDir()
		must(t, os.MkdirAll(filepath.Join(dir, "assets"), 0o755))
		must(t, os.WriteFile(filepath.Join(dir, "index.html"), []byte("<!doctype html><p>dev build</p>"), 0o644))
		must(t, os.WriteFile(filepath.Join(dir, "assets", "app-1234.js"), []byte("console.log(1)"), 0o644))
		g := newFixture(t, fixtureConfig{noRun: true, opts: func(o *web.Options) { o.UIDir = dir }})
		if res := g.get(t, "/deep/link"); !strings.Contains(string(res.body), "dev build") || res.header.Get("Cache-Control") != "no-cache" {
			t.Errorf("deep link: %d %q %s", res.status, res.header.Get("Cache-Control"), res.body)
		}
		res := g.get(t, "/assets/app-1234.js")
		if string(res.body) != "console.log(1)" || !strings.Contains(res.header.Get("Content-Type"), "javascript") ||
			!strings.Contains(res.header.Get("Cache-Control"), "immutable") {
			t.Errorf("asset: %d %q %q %s", res.status, res.header.Get("Content-Type"), res.header.Get("Cache-Control"), res.body)
		}
	})
}

func TestServer_Headers(t *testing.T) {
	f := newFixture(t, fixtureConfig{})
	for _, tc := range []struct {
		path    string
		noStore bool
	}{
		{"/api/sensors/current", true},
		{"/api/nope", true},
		{"/api", true},
		{"/healthz", true},
		{"/", false},
	} {
		t.Run(tc.path, func(t *testing.T) {
			res := f.get(t, tc.path)
			if got := res.header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q", got)
			}
			if got := res.header.Get("Cache-Control"); (got == "no-store") != tc.noStore {
				t.Errorf("Cache-Control %q, want no-store: %v", got, tc.noStore)
			}
		})
	}
}

func TestServer_Logging(t *testing.T) {
	f := newFixture(t, fixtureConfig{})
	f.get(t, "/api/sensors/P2/history?max_points=10")
	f.get(t, "/healthz")
	logs := f.logs.String()
	for _, want := range []string{
		`"level":"INFO","msg":"http request","method":"GET","path":"/api/sensors/P2/history","route":"GET /api/sensors/{id}/history","status":200,"bytes":`,
		`"duration_ms":`, `"remote":"192.0.2.1:1234"`,
		`"level":"DEBUG","msg":"http request","method":"GET","path":"/healthz"`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
}

func TestServer_Panic(t *testing.T) {
	f := newFixture(t, fixtureConfig{noRun: true, opts: func(o *web.Options) {
		o.WebSocket = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "gzip") // must not leak into the error
			panic("hub bug")
		})
	}})
	res := f.get(t, "/api/ws/sensors")
	wantError(t, res, 500, maskservice.EINTERNAL, "internal error")
	if res.header.Get("Content-Encoding") != "" {
		t.Errorf("Content-Encoding %q leaked into the error", res.header.Get("Content-Encoding"))
	}
	if logs := f.logs.String(); !strings.Contains(logs, "hub bug") || !strings.Contains(logs, `"status":500`) {
		t.Errorf("the panic is not logged:\n%s", logs)
	}
}

func TestNew(t *testing.T) {
	live, err := maskservice.LiveSensorsOf(maskservice.DefaultSensors())
	if err != nil {
		t.Fatal(err)
	}
	mon, err := maskservice.NewMonitor(live, &scriptSource{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	recent := ring.NewSet([]string{"P1", "P2", "P3"}, 10)
	reg := prometheus.NewRegistry()
	ta := newAuth(t, time.Now)
	acc := ta.accounts(t, nil, nil)
	if _, err := web.New(web.Options{Monitor: mon, Recent: recent, Accounts: acc, Tokens: ta.tokens, Registry: reg}); err != nil {
		t.Fatalf("valid options: %v", err)
	}
	for _, tc := range []struct {
		name string
		opts web.Options
		want string
	}{
		{"no monitor", web.Options{Recent: recent, Accounts: acc, Tokens: ta.tokens}, "monitor"},
		{"no recent readings", web.Options{Monitor: mon, Accounts: acc, Tokens: ta.tokens}, "recent"},
		{"no auth", web.Options{Monitor: mon, Recent: recent}, "auth"},
		{"registered twice", web.Options{Monitor: mon, Recent: recent, Accounts: acc, Tokens: ta.tokens, Registry: reg}, "register"},
		{"ui dir without index.html", web.Options{Monitor: mon, Recent: recent, Accounts: acc, Tokens: ta.tokens, UIDir: t.TempDir()}, "index.html"},
		{"cors origin with a path", web.Options{Monitor: mon, Recent: recent, Accounts: acc, Tokens: ta.tokens, CORSOrigins: []string{"https://ui.example/"}}, "cors"},
		{"cors wildcard", web.Options{Monitor: mon, Recent: recent, Accounts: acc, Tokens: ta.tokens, CORSOrigins: []string{"*"}}, "cors"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := web.New(tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one that names %q", err, tc.want)
			}
		})
	}
	// A server works with only the required options.
	srv, err := web.New(web.Options{Monitor: mon, Recent: recent, Accounts: acc, Tokens: ta.tokens, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Routes()); n == 0 {
		t.Error("no routes")
	}
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}
