package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"mask.services/maskservice/store/bolt"
)

// adminSocketName is the admin socket's name in the data directory.
const adminSocketName = "admin.sock"

// serveAdmin serves the admin socket at path: a unix socket, mode 0600, so that only the
// daemon's user and root can connect, through which "maskserviced backup" takes a hot copy
// of the database while the daemon holds it. The one route is GET /backup. A stale socket
// file at path (left by a daemon that died) is removed first; any other kind of file there
// is refused. Close stops the server, ends the downloads in flight (so that the database can
// close) and removes the socket file.
//
// The socket is bound under a temporary name, restricted, and only then renamed to path, so
// there is no moment in which it is reachable with looser permissions. Nothing is written
// to disk; after a crash the socket file is left and the next start removes it.
func serveAdmin(ctx context.Context, path string, db *bolt.DB, log *slog.Logger) (io.Closer, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("admin socket %s: a file that is not a socket is in the way", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("admin socket %s: remove stale socket: %w", path, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("admin socket %s: %w", path, err)
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+"."+strconv.Itoa(os.Getpid()))
	_ = os.Remove(tmp)
	ln, err := new(net.ListenConfig).Listen(ctx, "unix", tmp)
	if err != nil {
		return nil, fmt.Errorf("admin socket %s: listen: %w", path, err)
	}
	// The socket file is renamed below, so the listener must not unlink the old name on
	// Close; adminServer.Close removes the file itself.
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	if err := os.Chmod(tmp, 0o600); err != nil {
		_ = ln.Close()
		_ = os.Remove(tmp)
		return nil, fmt.Errorf("admin socket %s: restrict to the owner: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = ln.Close()
		_ = os.Remove(tmp)
		return nil, fmt.Errorf("admin socket %s: %w", path, err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /backup", func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		n, err := db.StreamBackup(r.Context(), func(size int64) (io.Writer, error) {
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
			return w, nil
		})
		if err != nil {
			log.Error("admin socket: backup failed", "bytes", n, "err", err)
			// The headers may be out: a broken connection is what tells the client.
			panic(http.ErrAbortHandler)
		}
		log.Info("admin socket: backup sent", "bytes", n, "took_ms", time.Since(start).Milliseconds())
	})
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	a := &adminServer{srv: srv, path: path, done: make(chan struct{})}
	go func() {
		defer close(a.done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("admin socket stopped", "err", err)
		}
	}()
	log.Info("admin socket listening", "path", path)
	return a, nil
}

// adminServer is the running admin socket.
type adminServer struct {
	srv  *http.Server
	path string
	done chan struct{}
}

// Close stops the server at once, ending the downloads in flight, and removes the socket.
func (a *adminServer) Close() error {
	err := a.srv.Close()
	<-a.done
	if e := os.Remove(a.path); e != nil && !errors.Is(e, fs.ErrNotExist) {
		err = errors.Join(err, fmt.Errorf("remove admin socket: %w", e))
	}
	return err
}
