package web_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"mask.services/maskservice"
	"mask.services/maskservice/web"
)

// BenchmarkSensorsCurrent measures GET /api/sensors/current, the LCD's and every client's
// poll, with the access token checked on every request: "handler" is the server alone,
// "loopback" adds a real HTTP client and connection.
func BenchmarkSensorsCurrent(b *testing.B) {
	f := newFixture(b, fixtureConfig{opts: func(o *web.Options) {
		// Info level, as in production: every request is logged.
		o.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	}})
	b.Run("handler", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			req := httptest.NewRequest(http.MethodGet, "/api/sensors/current", nil)
			f.authorize(req, maskservice.RoleOperator)
			for pb.Next() {
				rec := httptest.NewRecorder()
				f.handler.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	})
	b.Run("loopback", func(b *testing.B) {
		ts := httptest.NewServer(f.handler)
		defer ts.Close()
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
		defer client.CloseIdleConnections()
		url := ts.URL + "/api/sensors/current"
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				req, err := http.NewRequest(http.MethodGet, url, nil)
				if err != nil {
					b.Fatal(err)
				}
				f.authorize(req, maskservice.RoleOperator)
				res, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					b.Fatalf("status %d", res.StatusCode)
				}
			}
		})
	})
}
