package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestRunLoad checks both modes against a trivial JSON server: closed loop sends as fast as
// it can, paced sends the asked rate (loosely: the machine may be loaded).
func TestRunLoad(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	defer srv.Close()
	tests := []struct {
		name     string
		rate     float64
		min, max int
	}{
		{"closed loop", 0, 300, 1 << 30},
		{"paced", 200, 100, 201},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := runLoad(context.Background(), loadConfig{
				URL: srv.URL, Concurrency: 4, Rate: tt.rate,
				Warmup: 100 * time.Millisecond, Duration: time.Second,
				MaxRequests: 1_000_000, Timeout: 5 * time.Second,
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Errors != 0 || res.Requests < tt.min || res.Requests > tt.max {
				t.Errorf("requests %d (errors %d), want %d..%d", res.Requests, res.Errors, tt.min, tt.max)
			}
		})
	}
}
