// Command maskserviced is the daemon of the MASKSERVICE C20 1001 pressure-test appliance: it
// polls the pressure transducers, judges every reading, keeps the last hour in RAM and serves
// the operator UI, the REST and WebSocket APIs and the Prometheus metrics.
//
// Usage:
//
//	maskserviced serve [--config FILE] [--data DIR] [--listen ADDR] [--demo] [--ui-dir DIR]
//	maskserviced config check --config FILE
//	maskserviced user add|passwd|list|unlock|disable|enable [NAME] [--role ROLE] [--data DIR]
//	maskserviced backup FILE [--data DIR]
//	maskserviced restore FILE [--data DIR]
//	maskserviced compact [--data DIR]
//	maskserviced version
//
// With no config file, serve runs the three sensors of the specification on the simulator.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes. A damaged database is neither: serve keeps it aside and starts on a backup or
// an empty database (bolt.OpenRecovering). Only the Go runtime itself also exits 2, on a
// crash, which is why no panic of bbolt may escape the store.
const (
	exitOK    = 0
	exitError = 1 // the daemon could not open what it needs (an unwritable data directory, a database in use or of a newer version) or failed while running
	exitUsage = 2 // bad flags or configuration: nothing was started
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// cliError is an error in the command line or the configuration file: nothing was started,
// and the exit code is exitUsage.
type cliError struct {
	err       error
	showUsage bool // print the usage text after the message
}

func (e *cliError) Error() string { return e.err.Error() }
func (e *cliError) Unwrap() error { return e.err }

// usageErrorf reports a mistake in the command line.
func usageErrorf(format string, args ...any) error {
	return &cliError{err: fmt.Errorf(format, args...), showUsage: true}
}

// configError reports a bad configuration file.
func configError(err error) error { return &cliError{err: err} }

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(args[1:], stderr)
	case "config":
		err = configCmd(args[1:], stdout)
	case "user":
		err = userCmd(args[1:], stdin, stdout)
	case "backup":
		err = backupCmd(args[1:], stdout)
	case "restore":
		err = restoreCmd(args[1:], stdout)
	case "compact":
		err = compactCmd(args[1:], stdout)
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "maskserviced %s\n", version)
	case "help", "--help", "-h", "-help":
		fmt.Fprint(stdout, usage)
	default:
		err = usageErrorf("unknown command %q", args[0])
	}
	var cli *cliError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &cli):
		fmt.Fprintf(stderr, "maskserviced: %v\n", err)
		if cli.showUsage {
			fmt.Fprintf(stderr, "\n%s", usage)
		}
		return exitUsage
	default:
		fmt.Fprintf(stderr, "maskserviced: %v\n", err)
		return exitError
	}
}

const usage = `Usage:
  maskserviced serve [--config FILE] [--data DIR] [--listen ADDR] [--demo] [--ui-dir DIR] [--log-level LEVEL]
      run the daemon; with no --config, the three specification sensors on the simulator
  maskserviced config check --config FILE
      validate a configuration file and exit
  maskserviced user add|passwd|list|unlock|disable|enable [NAME] [--role ROLE] [--data DIR]
      manage users in the data directory while the daemon is stopped (passwords on stdin)
  maskserviced backup FILE [--data DIR]
      copy the database to FILE: a hot copy through the running daemon, or from the file
  maskserviced restore FILE [--data DIR]
      replace the database with the backup FILE while the daemon is stopped (the old one is
      kept); every session of the backup is ended
  maskserviced compact [--data DIR]
      give the space of deleted data back to the disk while the daemon is stopped
  maskserviced version
      print the version
`

// slogWriter turns lines of the standard log package into warnings of the structured log.
type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.l.Warn(strings.TrimSpace(string(p)), "source", "library")
	return len(p), nil
}

// serve runs the daemon until SIGINT or SIGTERM, then shuts down gracefully.
func serve(args []string, stderr io.Writer) error {
	m := NewMain()
	m.Stderr = stderr
	if err := m.ParseFlags(args); err != nil {
		return err
	}
	m.NotifySocket = os.Getenv("NOTIFY_SOCKET")
	m.WatchdogInterval = watchdogInterval(os.Getenv("WATCHDOG_USEC"), os.Getenv("WATCHDOG_PID"), os.Getpid())
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := m.Run(ctx); err != nil {
		return err
	}
	// Libraries that print with the standard log package (the serial port's on a failed
	// close) go to the structured log too, not as stray plain lines.
	log.SetOutput(slogWriter{m.Logger})
	log.SetFlags(0)
	select {
	case <-ctx.Done():
	case err := <-m.Failed():
		m.Logger.Error("daemon failed", "err", err)
		_ = m.Close()
		return err
	}
	// Restore the default signal behaviour so that a second Ctrl-C kills at once.
	stop()
	m.Logger.Info("shutting down", "timeout", ShutdownTimeout.String())
	start := time.Now()
	if err := m.Close(); err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	m.Logger.Info("stopped", "took_ms", time.Since(start).Milliseconds())
	return nil
}
