package main

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"mask.services/maskservice/store/bolt"
)

// socketClient is an HTTP client that reaches the unix socket at path whatever the URL.
func socketClient(t *testing.T, path string) *http.Client {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return new(net.Dialer).DialContext(ctx, "unix", path)
	}}}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func TestServeAdmin(t *testing.T) {
	dir := mustDataDir(t, "anna")
	db := mustOpenDir(t, dir)
	defer db.Close()
	sock := filepath.Join(dir, adminSocketName)
	// A stale socket of a daemon that died.
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	_ = ln.Close()

	admin, err := serveAdmin(context.Background(), sock, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(sock)
	if err != nil || fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket %v, %v: want a socket with mode 0600", fi, err)
	}
	c := socketClient(t, sock)

	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/backup", http.StatusOK},
		{http.MethodPost, "/backup", http.StatusMethodNotAllowed},
		{http.MethodGet, "/other", http.StatusNotFound},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, "http://admin"+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.status != http.StatusOK {
				return
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/octet-stream" {
				t.Errorf("Content-Type %q", ct)
			}
			if cl := resp.Header.Get("Content-Length"); cl != strconv.Itoa(len(body)) {
				t.Errorf("Content-Length %q, body %d bytes", cl, len(body))
			}
			file := filepath.Join(t.TempDir(), "b.db")
			if err := os.WriteFile(file, body, 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := bolt.Verify(context.Background(), file); err != nil {
				t.Error(err)
			}
		})
	}

	if err := admin.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(sock); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the socket is left after Close: %v", err)
	}
	if _, err := c.Get("http://admin/backup"); err == nil {
		t.Error("the socket still answers after Close")
	}
}

func TestServeAdmin_FileInTheWay(t *testing.T) {
	dir := mustDataDir(t, "anna")
	db := mustOpenDir(t, dir)
	defer db.Close()
	sock := filepath.Join(dir, adminSocketName)
	if err := os.WriteFile(sock, []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	if a, err := serveAdmin(context.Background(), sock, db, nil); err == nil {
		_ = a.Close()
		t.Fatal("serveAdmin replaced a regular file")
	}
	if b, err := os.ReadFile(sock); err != nil || string(b) != "mine" {
		t.Errorf("the file in the way changed: %q, %v", b, err)
	}
}
