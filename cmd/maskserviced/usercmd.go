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
  maskserviced user pin NAME [--data DIR]                               PIN read from stdin
  maskserviced user pin NAME --clear [--data DIR]
  maskserviced user list [--data DIR]
  maskserviced user unlock NAME [--data DIR]
  maskserviced user disable NAME [--data DIR]
  maskserviced user enable NAME [--data DIR]
Roles: OPERATOR, ADMIN, SUPERUSER, SERWISANT. Passwords: at least 10 characters; give one per
line on stdin, e.g.  printf '%s\n' "$PW" | maskserviced user add anna --role SUPERUSER
PINs sign in on the LCD only: 4 to 8 digits, neither one digit repeated nor a straight run
(1234, 4321); the password still works.
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
	clearPIN := fs.Bool("clear", false, "pin: clear the PIN instead of setting one")
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
	// The same accounts service as the daemon's: the same rules, the same audit entries.
	audit := &auditWatch{AuditLog: db}
	accounts, err := maskservice.NewAccounts(maskservice.AccountsOptions{Users: db, Sessions: db, Audit: audit,
		Passwords: auth.Bcrypt{Cost: auth.DefaultBcryptCost}})
	if err != nil {
		return err
	}
	by := maskservice.ConsoleActor(osUser())

	switch sub {
	case "add":
		r := maskservice.Role(strings.ToUpper(*role))
		if !r.Valid() {
			return usageErrorf("user add: --role must be %s", maskservice.RoleList())
		}
		if err := maskservice.ValidateUsername(name); err != nil {
			return configError(err)
		}
		// Before the password is asked for, so that nobody types one for nothing.
		if _, err := accounts.User(ctx, name); err == nil {
			return fmt.Errorf("add: user %q already exists", name)
		}
		password, err := readNewPassword(stdin)
		if err != nil {
			return err
		}
		if _, err := accounts.CreateUser(ctx, by, maskservice.NewUser{Username: name, Password: password, Role: r,
			MustChangePassword: *mustChange}); err != nil {
			return fmt.Errorf("add: %w", err)
		}
		if err := audit.check(); err != nil {
			return fmt.Errorf("add: %w", err)
		}
		fmt.Fprintf(stdout, "added %s (%s)\n", name, r)
	case "passwd":
		password, err := readNewPassword(stdin)
		if err != nil {
			return err
		}
		_, n, err := accounts.UpdateUser(ctx, by, name, maskservice.UserChange{Password: &password})
		if err == nil {
			err = audit.check()
		}
		if err != nil {
			return fmt.Errorf("passwd: %w", err)
		}
		fmt.Fprintf(stdout, "password of %s set; its sign-in locks are cleared and %d sessions ended\n", name, n)
	case "pin":
		return setPIN(ctx, accounts, audit, by, name, *clearPIN, stdin, stdout)
	case "unlock", "disable", "enable":
		ch := map[string]maskservice.UserChange{
			"unlock": {Unlock: true}, "disable": {Active: ptr(false)}, "enable": {Active: ptr(true)},
		}[sub]
		_, _, err := accounts.UpdateUser(ctx, by, name, ch)
		if err == nil {
			err = audit.check()
		}
		if err != nil {
			return fmt.Errorf("%s: %w", sub, err)
		}
		done := map[string]string{"unlock": "unlocked", "disable": "disabled", "enable": "enabled"}[sub]
		fmt.Fprintf(stdout, "%s %s\n", done, name)
	case "list":
		users, err := accounts.Users(ctx)
		if err != nil {
			return fmt.Errorf("list users: %w", err)
		}
		now := time.Now()
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "USERNAME\tROLE\tACTIVE\tLOCKED\tLAST LOGIN\tPIN")
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
			pin := map[bool]string{true: "yes", false: "no"}[len(u.PINHash) > 0]
			fmt.Fprintf(tw, "%s\t%s\t%t\t%s\t%s\t%s\n", u.Username, u.Role, u.Active, orDash(strings.Join(locked, ",")), last, pin)
		}
		return tw.Flush()
	default:
		return usageErrorf("user: unknown subcommand %q\n\n%s", sub, userUsage)
	}
	return nil
}

// setPIN sets the PIN of name, read from stdin, or clears it.
func setPIN(ctx context.Context, accounts *maskservice.Accounts, audit *auditWatch, by maskservice.Actor, name string,
	clear bool, stdin io.Reader, stdout io.Writer) error {
	var pin string
	if !clear {
		line, err := readPassword(stdin)
		if err != nil {
			return usageErrorf("pin: read the PIN from stdin: give it on one line, or --clear")
		}
		if err := maskservice.ValidatePIN(line); err != nil {
			return configError(err)
		}
		pin = line
	}
	_, err := accounts.SetPIN(ctx, by, name, maskservice.PINChange{PIN: pin})
	if err == nil {
		err = audit.check()
	}
	if err != nil {
		return fmt.Errorf("pin: %w", err)
	}
	if clear {
		fmt.Fprintf(stdout, "PIN of %s cleared; the password still signs in\n", name)
	} else {
		fmt.Fprintf(stdout, "PIN of %s set; it signs in on the LCD only\n", name)
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

// osUser is the OS user who runs the user command: $SUDO_USER (the one who ran sudo, if
// sudo was used), else $USER, else "".
func osUser() string {
	for _, env := range []string{"SUDO_USER", "USER"} {
		if v := os.Getenv(env); v != "" {
			return v
		}
	}
	return ""
}

// auditWatch is the audit log of the user command: it remembers a failed append, which the
// accounts service only logs (the change stands), so that the person at the console is told
// that the audit trail lacks it.
type auditWatch struct {
	maskservice.AuditLog
	err error
}

// AppendAudit appends e and remembers the first failure.
func (w *auditWatch) AppendAudit(ctx context.Context, e maskservice.AuditEntry) error {
	err := w.AuditLog.AppendAudit(ctx, e)
	if err != nil && w.err == nil {
		w.err = err
	}
	return err
}

// check returns an error that says the change is done but not recorded, if an append failed.
func (w *auditWatch) check() error {
	if w.err != nil {
		return fmt.Errorf("done, but not recorded in the audit log: %w", w.err)
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// readNewPassword reads a new password from stdin and checks it against the password rules.
func readNewPassword(stdin io.Reader) (string, error) {
	password, err := readPassword(stdin)
	if err != nil {
		return "", err
	}
	if err := maskservice.ValidatePassword(password, false); err != nil {
		return "", configError(err)
	}
	return password, nil
}

// readPassword reads one line from stdin.
func readPassword(stdin io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", usageErrorf("read the password from stdin: give it on one line (%v)", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}
