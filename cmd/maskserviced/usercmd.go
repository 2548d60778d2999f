package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"mask.services/maskservice"
	"mask.services/maskservice/store/bolt"
	"mask.services/maskservice/web/auth"
)

const userUsage = `Usage (with the daemon stopped, on its data directory):
  maskserviced user add NAME --role ROLE [--data DIR] [--must-change]   password read from stdin
  maskserviced user passwd NAME [--data DIR]                            password read from stdin
  maskserviced user list [--data DIR]
  maskserviced user unlock NAME [--data DIR]
  maskserviced user disable NAME [--data DIR]
  maskserviced user enable NAME [--data DIR]
Roles: OPERATOR, ADMIN, SUPERUSER, SERWISANT. Passwords: at least 10 characters; give one per
line on stdin, e.g.  printf '%s\n' "$PW" | maskserviced user add anna --role SUPERUSER
`

// userCmd runs "user ...": the first setup of a new device, and a way back in when nobody can
// sign in. It opens the data directory itself, so the daemon must be stopped (the database
// file is locked while it runs).
func userCmd(args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 {
		return usageErrorf("user: want a subcommand\n\n%s", userUsage)
	}
	sub, rest := args[0], args[1:]
	fs := flag.NewFlagSet("user "+sub, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dataDir := fs.String("data", defaultDataDir(), "data directory")
	role := fs.String("role", "", "role of the new user")
	mustChange := fs.Bool("must-change", false, "the user must change the password at first sign-in")
	// Flags may come before or after the name.
	var name string
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		name, rest = rest[0], rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		return usageErrorf("user %s: %v\n\n%s", sub, err, userUsage)
	}
	if name == "" && fs.NArg() > 0 {
		name = fs.Arg(0)
	} else if fs.NArg() > 0 {
		return usageErrorf("user %s: unexpected argument %q", sub, fs.Arg(0))
	}
	needsName := sub != "list"
	if needsName && name == "" {
		return usageErrorf("user %s: name the user\n\n%s", sub, userUsage)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := bolt.Open(ctx, *dataDir, bolt.Options{})
	if err != nil {
		return fmt.Errorf("open data directory %s: %w", *dataDir, err)
	}
	defer db.Close()

	switch sub {
	case "add":
		r := maskservice.Role(strings.ToUpper(*role))
		if !r.Valid() {
			return usageErrorf("user add: --role must be OPERATOR, ADMIN, SUPERUSER or SERWISANT")
		}
		if err := maskservice.ValidateUsername(name); err != nil {
			return configError(err)
		}
		if _, err := db.User(ctx, name); err == nil {
			return fmt.Errorf("add: user %q already exists", name)
		}
		hash, err := readPasswordHash(stdin)
		if err != nil {
			return err
		}
		u := &maskservice.User{Username: name, PasswordHash: hash, Role: r, Active: true,
			MustChangePassword: *mustChange, Created: time.Now().UTC()}
		if err := db.CreateUser(ctx, u); err != nil {
			return fmt.Errorf("add: %w", err)
		}
		details := fmt.Sprintf("user %s created as %s", name, r)
		if *mustChange {
			details += ", must change password"
		}
		if err := auditCLI(ctx, db, maskservice.AuditUserCreate, details); err != nil {
			return fmt.Errorf("add: %w", err)
		}
		fmt.Fprintf(stdout, "added %s (%s)\n", name, r)
	case "passwd":
		hash, err := readPasswordHash(stdin)
		if err != nil {
			return err
		}
		if _, err := db.UpdateUser(ctx, name, func(u *maskservice.User) error {
			u.PasswordHash, u.Demo, u.MustChangePassword = hash, false, false
			u.Unlock()
			return nil
		}); err != nil {
			return fmt.Errorf("passwd: %w", err)
		}
		if err := auditCLI(ctx, db, maskservice.AuditUserUpdate, "user "+name+": password reset"); err != nil {
			return fmt.Errorf("passwd: %w", err)
		}
		n, err := revokeSessions(ctx, db, name, "password changed")
		if err != nil {
			return fmt.Errorf("passwd: %w", err)
		}
		fmt.Fprintf(stdout, "password of %s set; its sign-in locks are cleared and %d sessions ended\n", name, n)
	case "unlock", "disable", "enable":
		if _, err := db.UpdateUser(ctx, name, func(u *maskservice.User) error {
			switch sub {
			case "unlock":
				u.Unlock()
			case "disable":
				u.Active = false
			case "enable":
				u.Active = true
			}
			return nil
		}); err != nil {
			return fmt.Errorf("%s: %w", sub, err)
		}
		done := map[string]string{"unlock": "unlocked", "disable": "disabled", "enable": "enabled"}[sub]
		if err := auditCLI(ctx, db, maskservice.AuditUserUpdate, "user "+name+": "+done); err != nil {
			return fmt.Errorf("%s: %w", sub, err)
		}
		if sub == "disable" {
			// A disabled user's sessions end too, not only its future sign-ins.
			if _, err := revokeSessions(ctx, db, name, "user disabled"); err != nil {
				return fmt.Errorf("disable: %w", err)
			}
		}
		fmt.Fprintf(stdout, "%s %s\n", done, name)
	case "list":
		users, err := db.Users(ctx)
		if err != nil {
			return fmt.Errorf("list users: %w", err)
		}
		now := time.Now()
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "USERNAME\tROLE\tACTIVE\tLOCKED\tLAST LOGIN")
		for _, u := range users {
			locked := []string{}
			for _, o := range []maskservice.Origin{maskservice.OriginLocal, maskservice.OriginRemote} {
				if u.Locked(o, now) {
					locked = append(locked, o.String())
				}
			}
			last := "never"
			if !u.LastLogin.IsZero() {
				last = u.LastLogin.Local().Format(time.DateTime)
			}
			fmt.Fprintf(tw, "%s\t%s\t%t\t%s\t%s\n", u.Username, u.Role, u.Active, orDash(strings.Join(locked, ",")), last)
		}
		return tw.Flush()
	default:
		return usageErrorf("user: unknown subcommand %q\n\n%s", sub, userUsage)
	}
	return nil
}

// auditCLI records a change the user command made in the audit log, as the CLI: source "cli",
// username "cli:NAME" with the OS user from $SUDO_USER or $USER (the one who ran sudo, if
// sudo was used), or "cli" when neither is set, and no role. The change itself is on disk
// already; when recording fails, the error says so, so that the person at the console knows
// the audit trail lacks it.
func auditCLI(ctx context.Context, db *bolt.DB, action maskservice.AuditAction, details string) error {
	who := "cli"
	for _, env := range []string{"SUDO_USER", "USER"} {
		if v := os.Getenv(env); v != "" {
			who = maskservice.AuditClip("cli:"+v, maskservice.AuditMaxUsername)
			break
		}
	}
	err := db.AppendAudit(ctx, maskservice.AuditEntry{Time: time.Now(), Action: action, Username: who, Source: "cli", Details: details})
	if err != nil {
		return fmt.Errorf("done, but not recorded in the audit log: %w", err)
	}
	return nil
}

// revokeSessions ends every live session of username, so that a reset password or a disabled
// account also shuts out whoever is signed in with it, and returns how many it ended.
func revokeSessions(ctx context.Context, db *bolt.DB, username, reason string) (int, error) {
	sessions, err := db.Sessions(ctx, username)
	if err != nil {
		return 0, fmt.Errorf("end the sessions of %s: %w", username, err)
	}
	n := 0
	now := time.Now().UTC()
	for _, s := range sessions {
		if !s.Revoked.IsZero() {
			continue
		}
		if _, err := db.UpdateSession(ctx, s.ID, func(s *maskservice.Session) error {
			s.Revoked, s.RevokeReason = now, reason
			return nil
		}); err != nil {
			return n, fmt.Errorf("end session of %s: %w", username, err)
		}
		n++
	}
	return n, nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// readPasswordHash reads a new password from stdin, checks it against the password rules and
// hashes it at the production cost.
func readPasswordHash(stdin io.Reader) ([]byte, error) {
	password, err := readPassword(stdin)
	if err != nil {
		return nil, err
	}
	if err := maskservice.ValidatePassword(password, false); err != nil {
		return nil, configError(err)
	}
	return auth.HashPassword(password, auth.DefaultBcryptCost)
}

// readPassword reads one line from stdin.
func readPassword(stdin io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", usageErrorf("read the password from stdin: give it on one line (%v)", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}
