package web_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"mask.services/maskservice/web"
)

func fromAddr(addr string) func(*http.Request) { return func(r *http.Request) { r.RemoteAddr = addr } }

// fromPanel sends the request from addr on a connection of the panel listener (the LCD's),
// as web.PanelConnContext marks it; without Options.PanelUID the connection itself is not
// looked at.
func fromPanel(addr string) func(*http.Request) {
	return func(r *http.Request) {
		r.RemoteAddr = addr
		*r = *r.WithContext(web.PanelConnContext(r.Context(), nil))
	}
}

func withHeader(k, v string) func(*http.Request) { return func(r *http.Request) { r.Header.Set(k, v) } }

func TestServer_Metrics(t *testing.T) {
	const token = "s3cret-scrape-token"
	var scrape response
	var dropped float64
	f := newFixture(t, fixtureConfig{
		faults: map[string]error{"P3": errors.New("read timeout")},
		opts:   func(o *web.Options) { o.MetricsToken = token },
		// Subscribers exist only while the monitor runs: scrape then.
		duringRun: func(tb testing.TB, f *fixture) {
			slow := f.mon.Subscribe("slow", 1) // never read, so it drops rounds
			defer slow.Close()
			deadline := time.Now().Add(10 * time.Second)
			for dropped == 0 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
				dropped = gauge(tb, f, "monitor_dropped_rounds_total", "subscriber", "slow")
			}
			f.get(tb, "/api/sensors/P1/history?max_points=10")
			scrape = f.do(tb, http.MethodGet, "/metrics", fromAddr("127.0.0.1:40000"))
		},
	})
	if dropped == 0 {
		t.Fatal("the slow subscriber dropped no rounds within 10 s")
	}
	if scrape.status != 200 || !strings.HasPrefix(scrape.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("scrape from loopback: %d %q %s", scrape.status, scrape.header.Get("Content-Type"), scrape.body)
	}
	text := string(scrape.body)
	for _, want := range []string{
		`sensor_readings_total{sensor_id="P1"} `,
		`sensor_poll_errors_total{sensor_id="P3"} `,
		`sensor_value{sensor_id="P1"} 5`,
		`sensor_status{sensor_id="P1"} 1`,
		`sensor_status{sensor_id="P3"} 0`,
		`sensor_poll_rtt_seconds{sensor_id="P2"} 0.002`,
		`monitor_rounds_total `,
		`monitor_dropped_rounds_total{subscriber="slow"} `,
		`device_data_quality_ratio 0.6`,
		`request_duration_seconds_count{endpoint="/api/sensors/{id}/history",method="GET"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	for _, unwanted := range []string{`sensor_value{sensor_id="P3"}`, `P1/history`} {
		if strings.Contains(text, unwanted) {
			t.Errorf("metrics hold %s", unwanted)
		}
	}
	if errs := gauge(t, f, "sensor_poll_errors_total", "sensor_id", "P3"); errs != gauge(t, f, "sensor_readings_total", "sensor_id", "P3") || errs == 0 {
		t.Errorf("P3 errors %g, want every read", errs)
	}

	for _, tc := range []struct {
		name string
		mods []func(*http.Request)
		want int
	}{
		{"ipv6 loopback", []func(*http.Request){fromAddr("[::1]:40000")}, 200},
		{"remote", []func(*http.Request){fromAddr("192.168.4.20:40000")}, 403},
		{"remote with the token", []func(*http.Request){fromAddr("192.168.4.20:40000"), withHeader("Authorization", "Bearer "+token)}, 200},
		{"remote with a wrong token", []func(*http.Request){fromAddr("192.168.4.20:40000"), withHeader("Authorization", "Bearer nope")}, 403},
		{"remote with the token, not as bearer", []func(*http.Request){fromAddr("192.168.4.20:40000"), withHeader("Authorization", token)}, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := f.do(t, http.MethodGet, "/metrics", tc.mods...)
			if tc.want == 403 {
				wantError(t, res, 403, "forbidden", "loopback")
				return
			}
			if res.status != tc.want || !strings.Contains(string(res.body), "sensor_readings_total") {
				t.Errorf("status %d, %d bytes", res.status, len(res.body))
			}
		})
	}
	t.Run("no token configured", func(t *testing.T) {
		g := newFixture(t, fixtureConfig{noRun: true})
		wantError(t, g.do(t, http.MethodGet, "/metrics", fromAddr("192.168.4.20:40000"), withHeader("Authorization", "Bearer ")), 403, "forbidden", "loopback")
	})
}

// gauge returns the sum of the counters or gauges name whose label has value, 0 if absent.
func gauge(tb testing.TB, f *fixture, name, label, value string) float64 {
	tb.Helper()
	families, err := f.reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	var sum float64
	for _, fam := range families {
		if fam.GetName() != name {
			continue
		}
		for _, m := range fam.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
				}
			}
		}
	}
	return sum
}
