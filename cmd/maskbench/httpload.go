package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// loadConfig is one HTTP load on keep-alive connections: Concurrency workers each send GET
// URL and wait for the whole answer. With Rate 0 the load is closed-loop (each worker sends
// the next request at once: the most the server can do). With Rate > 0 the workers together
// send Rate requests per second on a fixed schedule, and latency counts from the scheduled
// send time, so a stall also delays (and is charged to) the requests queued behind it.
type loadConfig struct {
	URL         string
	Concurrency int
	Rate        float64       // total requests per second; 0: closed loop
	Token       string        // sent as "Authorization: Bearer"; "" sends none
	Warmup      time.Duration // requests before this are not measured
	Duration    time.Duration // the measured window after the warm-up
	MaxRequests int           // per worker: a bound even if the server answers absurdly fast
	Timeout     time.Duration // per request
}

// loadResult is the outcome of one HTTP load.
type loadResult struct {
	Requests int           // completed in the measured window
	Errors   int           // transport errors and non-200 answers, warm-up included
	FirstErr string        // the first error, to say what went wrong
	Elapsed  time.Duration // the measured window as it really ran
	Latency  summary
}

// rps is the measured throughput.
func (r loadResult) rps() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// loadWorker is what one worker measured.
type loadWorker struct {
	samples  []time.Duration
	errors   int
	firstErr error
}

// runLoad checks that URL answers 200 with JSON, then runs the load. Every latency sample of
// the measured window is kept, so the percentiles are exact.
func runLoad(ctx context.Context, cfg loadConfig) (loadResult, error) {
	var res loadResult
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        2 * cfg.Concurrency,
		MaxIdleConnsPerHost: cfg.Concurrency,
		IdleConnTimeout:     time.Minute,
	}
	defer tr.CloseIdleConnections()
	// The timeout bounds a hung request; a timed-out request counts as an error.
	client := &http.Client{Transport: tr, Timeout: cfg.Timeout}
	if err := checkJSON(ctx, client, cfg.URL, cfg.Token); err != nil {
		return res, err
	}

	start := time.Now()
	measureFrom := start.Add(cfg.Warmup)
	end := measureFrom.Add(cfg.Duration)
	workers := make([]loadWorker, cfg.Concurrency)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			workers[i] = work(ctx, client, cfg, i, start, measureFrom, end)
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(measureFrom)
	if err := ctx.Err(); err != nil {
		return res, err
	}

	var all []time.Duration
	for _, w := range workers {
		all = append(all, w.samples...)
		res.Errors += w.errors
		if w.firstErr != nil && res.FirstErr == "" {
			res.FirstErr = w.firstErr.Error()
		}
	}
	res.Requests = len(all)
	res.Latency = summarize(all)
	return res, nil
}

// work is worker i's loop until end, at most cfg.MaxRequests: back to back, or on the
// schedule of cfg.Rate (the workers' slots interleaved evenly).
func work(ctx context.Context, client *http.Client, cfg loadConfig, i int, start, measureFrom, end time.Time) loadWorker {
	w := loadWorker{samples: make([]time.Duration, 0, 4096)}
	var every time.Duration
	next := start
	if cfg.Rate > 0 {
		every = time.Duration(float64(cfg.Concurrency) / cfg.Rate * float64(time.Second))
		next = start.Add(every * time.Duration(i) / time.Duration(cfg.Concurrency))
	}
	for range cfg.MaxRequests {
		t0 := time.Now()
		if every > 0 {
			if d := time.Until(next); d > 0 {
				time.Sleep(d)
			}
			t0, next = next, next.Add(every)
		}
		if !t0.Before(end) || ctx.Err() != nil {
			break
		}
		err := getOK(ctx, client, cfg.URL, cfg.Token)
		lat := time.Since(t0)
		if err != nil {
			w.errors++
			if w.firstErr == nil {
				w.firstErr = err
			}
			continue
		}
		// Requests that started in the warm-up are not measured, whenever they end.
		if !t0.Before(measureFrom) {
			w.samples = append(w.samples, lat)
		}
	}
	return w
}

// get sends one GET and reads the whole body (so the connection goes back to the pool),
// keeping at most limit bytes of it.
func get(ctx context.Context, client *http.Client, url, token string, limit int64) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("new request: %w", err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("GET %s: %w", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read body of GET %s: %w", url, err)
	}
	return resp, body, nil
}

// getOK is one request of the load: it fails unless the answer is 200.
func getOK(ctx context.Context, client *http.Client, url, token string) error {
	resp, _, err := get(ctx, client, url, token, 0)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
	}
	return nil
}

// checkJSON fails unless url answers 200 with a JSON body, so a wrong path is not
// benchmarked as a fast 404.
func checkJSON(ctx context.Context, client *http.Client, url, token string) error {
	resp, body, err := get(ctx, client, url, token, 1<<20)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d: %.200s", url, resp.StatusCode, body)
	}
	if !json.Valid(body) {
		return fmt.Errorf("GET %s: body is not JSON: %.200s", url, body)
	}
	return nil
}
