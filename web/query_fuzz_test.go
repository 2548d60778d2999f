package web_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"mask.services/maskservice"
)

// FuzzQuery drives the routes that parse query parameters with arbitrary query strings. The
// answer must be a 200 whose body matches the spec, or a 4xx JSON error of the documented
// shape whose code fits its status: never a 5xx, never a panic.
func FuzzQuery(f *testing.F) {
	fx := newFixture(f, fixtureConfig{})
	paths := []string{"/api/sensors", "/api/sensors/P1/history", "/api/sensors/history"}
	for _, q := range []string{
		"", "limit=5", "sensor_id=P2&limit=7", "limit=0", "limit=", "limit=-1", "limit=1e3", "limit=%zz",
		"sensor_id=P1", "sensor_id=P9", "sensor_id=%ff%fe", "sensor_id=&sensor_id=P1",
		"max_points=2", "max_points=99999999999999999999", "max_points=+5",
		"start_time=yesterday", "start_time=2025-01-02T15:04:05 02:00", "start_time=2025-01-02T15:04:05.123456",
		"start_time=2025-01-02 15:04:05", "start_time=2025-01-02", "end_time=2025-01-02 15:04:05 02:00",
		"start_time=2025-01-02T00:00:00Z&end_time=2025-01-01T00:00:00Z",
		"start_time=2020-01-01T00:00:00Z&end_time=2025-01-01T00:00:00Z",
		"end_time=9999-12-31T23:59:59-23:59", "end_time=0000-01-01T00:30:00Z",
		"start_time=0000-01-01T00:00:00%2B01:00", "end_time=2025-13-01T00:00:00Z",
		";;&&==", "a=1;b=2", "%", "sensor_id=P1&max_points=3&start_time=1970-01-01T00:00:00Z",
		"limit=" + strings.Repeat("9", 2000), "sensor_id=" + strings.Repeat("é", 1000),
	} {
		for i := range paths {
			f.Add(uint8(i), q)
		}
	}
	codeOf := map[int]string{http.StatusBadRequest: "invalid", http.StatusNotFound: "not_found"}
	f.Fuzz(func(t *testing.T, route uint8, query string) {
		req := httptest.NewRequest(http.MethodGet, paths[int(route)%len(paths)], nil)
		req.URL.RawQuery = query
		fx.authorize(req, maskservice.RoleOperator)
		res := fx.send(t, req) // checks the body against the spec
		switch {
		case res.status == http.StatusOK:
			// An object (one sensor's history) or an array (readings, every sensor's history).
			var bodies []struct{ StartTime, EndTime *string }
			if err := json.Unmarshal(res.body, &bodies); err != nil {
				bodies = append(bodies[:0], struct{ StartTime, EndTime *string }{})
				if err := json.Unmarshal(res.body, &bodies[0]); err != nil {
					t.Fatalf("?%s: 200 with a body that is not JSON: %v", query, err)
				}
			}
			// History answers spell the range back: it must be RFC 3339 still.
			for _, body := range bodies {
				for _, ts := range []*string{body.StartTime, body.EndTime} {
					if _, err := time.Parse(time.RFC3339Nano, deref(ts)); ts != nil && err != nil {
						t.Errorf("?%s: range bound %q is not RFC 3339: %v", query, *ts, err)
					}
				}
			}
		case codeOf[res.status] != "":
			var body struct {
				Error *struct{ Code, Message string }
			}
			if err := json.Unmarshal(res.body, &body); err != nil || body.Error == nil {
				t.Fatalf("?%s: %d with a body that is not a JSON error (%v): %s", query, res.status, err, res.body)
			}
			if body.Error.Code != codeOf[res.status] || body.Error.Message == "" {
				t.Errorf("?%s: %d with code %q message %q", query, res.status, body.Error.Code, body.Error.Message)
			}
			if len(body.Error.Message) > 400 {
				t.Errorf("?%s: error message of %d bytes: it must not echo a long query", query, len(body.Error.Message))
			}
		default:
			t.Fatalf("?%s: status %d, want 200, 400 or 404: %s", query, res.status, res.body)
		}
	})
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
