package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"mask.services/maskservice"
	"mask.services/maskservice/store/bolt"
	"mask.services/maskservice/web/auth"
)

const backupUsage = `Usage:
  maskserviced backup FILE [--data DIR]    copy the database to FILE, through the running daemon or directly
  maskserviced restore FILE [--data DIR]   replace the database with FILE; the daemon must be stopped
  maskserviced compact [--data DIR]        shrink the database file to its data; the daemon must be stopped
`

// parseFileArgs reads "[FILE] [--data DIR]" in either order; wantFile says whether FILE is
// required (backup, restore) or refused (compact).
func parseFileArgs(cmd string, args []string, wantFile bool) (file, dataDir string, err error) {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	data := fs.String("data", defaultDataDir(), "data directory")
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		file, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return "", "", usageErrorf("%s: %v\n\n%s", cmd, err, backupUsage)
	}
	if file == "" && fs.NArg() > 0 {
		file = fs.Arg(0)
		if fs.NArg() > 1 {
			return "", "", usageErrorf("%s: unexpected argument %q", cmd, fs.Arg(1))
		}
	} else if fs.NArg() > 0 {
		return "", "", usageErrorf("%s: unexpected argument %q", cmd, fs.Arg(0))
	}
	switch {
	case wantFile && file == "":
		return "", "", usageErrorf("%s: name the file\n\n%s", cmd, backupUsage)
	case !wantFile && file != "":
		return "", "", usageErrorf("%s: unexpected argument %q", cmd, file)
	}
	return file, *data, nil
}

// offlineContext is the context of an offline command: Ctrl-C or SIGTERM cancels it, so that
// the command removes its temporary file and stops.
func offlineContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
}

// backupCmd runs "backup FILE": through the daemon's admin socket while the daemon runs (a
// hot copy, the daemon goes on), else from the database file directly. FILE is replaced only
// by a complete copy that passed verification.
func backupCmd(args []string, stdout io.Writer) error {
	file, dataDir, err := parseFileArgs("backup", args, true)
	if err != nil {
		return err
	}
	ctx, cancel := offlineContext()
	defer cancel()
	// Renaming a copy over the live file would leave the daemon writing to an unlinked one:
	// everything after the backup would be gone at its next start.
	if isSameFile(file, filepath.Join(dataDir, bolt.FileName)) {
		return fmt.Errorf("backup: %s is the database itself; choose another file", file)
	}
	how, err := backupViaSocket(ctx, filepath.Join(dataDir, adminSocketName), file)
	if errors.Is(err, errNoDaemon) {
		how, err = backupDirect(ctx, dataDir, file)
	}
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	info, err := bolt.Verify(ctx, file)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Fprintf(stdout, "backup: %s (%d bytes, schema %d) %s\n", file, info.Size, info.SchemaVersion, how)
	return nil
}

// errNoDaemon: nothing answers on the admin socket.
var errNoDaemon = errors.New("no daemon answers on the admin socket")

// adminDialTimeout bounds the connection to the admin socket.
const adminDialTimeout = 2 * time.Second

// backupViaSocket downloads a hot copy from the daemon listening on sock into file. It
// answers errNoDaemon when no daemon listens there (no socket, or a stale one).
func backupViaSocket(ctx context.Context, sock, file string) (string, error) {
	d := net.Dialer{Timeout: adminDialTimeout}
	conn, err := d.DialContext(ctx, "unix", sock)
	switch {
	case errors.Is(err, fs.ErrPermission):
		return "", fmt.Errorf("the running daemon's admin socket %s refuses this user: run as the daemon's user or root", sock)
	case err != nil:
		return "", errNoDaemon
	}
	_ = conn.Close()
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", sock)
		},
	}}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://maskserviced/backup", nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("ask the daemon on %s: %w", sock, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("ask the daemon on %s: %s", sock, resp.Status)
	}
	info, err := bolt.SaveBackup(ctx, file, resp.Body)
	if err != nil {
		return "", err
	}
	if resp.ContentLength >= 0 && info.Size != resp.ContentLength {
		return "", fmt.Errorf("the daemon announced %d bytes, %s holds %d", resp.ContentLength, file, info.Size)
	}
	return "from the running daemon", nil
}

// backupDirect copies the database file of a stopped daemon into file.
func backupDirect(ctx context.Context, dataDir, file string) (string, error) {
	path := filepath.Join(dataDir, bolt.FileName)
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("no database to back up: %w", err)
	}
	if err := bolt.BackupClosedFile(ctx, path, file); err != nil {
		return "", err
	}
	return "from " + path, nil
}

// isSameFile reports whether a and b name the same file (through links too); false when
// either does not exist.
func isSameFile(a, b string) bool {
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(fa, fb)
}

// restoreCmd runs "restore FILE" while the daemon is stopped.
func restoreCmd(args []string, stdout io.Writer) error {
	file, dataDir, err := parseFileArgs("restore", args, true)
	if err != nil {
		return err
	}
	ctx, cancel := offlineContext()
	defer cancel()
	kept, err := bolt.Restore(ctx, dataDir, file)
	if err != nil {
		return err
	}
	cur := filepath.Join(dataDir, bolt.FileName)
	if kept == "" {
		fmt.Fprintf(stdout, "restored %s from %s (there was no database before)\n", cur, file)
	} else {
		fmt.Fprintf(stdout, "restored %s from %s; the previous database is kept as %s\n", cur, file, kept)
	}
	n, err := endRestoredSessions(ctx, dataDir)
	if err != nil {
		return fmt.Errorf("restored, but the sessions of the backup could not be ended (sign-ins from before may work again): %w", err)
	}
	fmt.Fprintf(stdout, "sessions of the backup ended: %d (everyone signs in again)\n", n)
	return nil
}

// endRestoredSessions ends every session in the restored database: a session that ended
// after the backup was taken (a logout, a disabled user) would otherwise count again.
func endRestoredSessions(ctx context.Context, dataDir string) (int, error) {
	db, err := bolt.Open(ctx, dataDir, bolt.Options{})
	if err != nil {
		return 0, err
	}
	defer db.Close()
	return endSessions(ctx, db, "database restored from a backup")
}

// endSessions ends every session in db for reason, through the accounts service (which
// records each in the audit trail), and returns how many it ended. Whatever brings a backup
// back uses it: restore, and the start on a backup after a damaged database.
func endSessions(ctx context.Context, db *bolt.DB, reason string) (int, error) {
	accounts, err := maskservice.NewAccounts(maskservice.AccountsOptions{Users: db, Sessions: db, Audit: db,
		Passwords: auth.Bcrypt{Cost: auth.DefaultBcryptCost}})
	if err != nil {
		return 0, err
	}
	return accounts.EndAllSessions(ctx, reason)
}

// compactCmd runs "compact" while the daemon is stopped.
func compactCmd(args []string, stdout io.Writer) error {
	_, dataDir, err := parseFileArgs("compact", args, false)
	if err != nil {
		return err
	}
	ctx, cancel := offlineContext()
	defer cancel()
	before, after, err := bolt.Compact(ctx, dataDir)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "compacted %s: %d bytes before, %d bytes after\n", filepath.Join(dataDir, bolt.FileName), before, after)
	return nil
}
