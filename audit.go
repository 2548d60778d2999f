package maskservice

import (
	"context"
	"log/slog"
	"slices"
	"time"
	"unicode/utf8"
)

// AuditAction names what an audit entry records.
type AuditAction string

// The actions the audit log records. Later issues add calibration and configuration changes.
const (
	AuditLogin       AuditAction = "login"        // a user signed in
	AuditLoginFailed AuditAction = "login_failed" // a sign-in was refused (wrong password, unknown user, wrong role)
	AuditLockout     AuditAction = "lockout"      // failed sign-ins locked an account
	AuditLogout      AuditAction = "logout"       // a user signed out
	AuditAlertAck    AuditAction = "alert_ack"    // a user acknowledged an alert
	AuditUserCreate  AuditAction = "user_create"  // a user account was created
	AuditUserUpdate  AuditAction = "user_update"  // an account's role, state or password was changed, or it was unlocked
)

// auditActions lists every AuditAction, in the order of the constants. Immutable.
var auditActions = [...]AuditAction{
	AuditLogin, AuditLoginFailed, AuditLockout, AuditLogout, AuditAlertAck, AuditUserCreate, AuditUserUpdate,
}

// AuditActions returns every action the audit log knows, in a stable order.
func AuditActions() []AuditAction { return slices.Clone(auditActions[:]) }

// Valid reports whether a is one of the actions of AuditActions.
func (a AuditAction) Valid() bool { return slices.Contains(auditActions[:], a) }

// Bounds of an audit entry's text fields, in bytes. An AuditLog refuses an entry whose
// Username or Source is longer, and cuts a longer Details to fit, ending it with "…".
const (
	AuditMaxUsername = 64
	AuditMaxSource   = 64
	AuditMaxDetails  = 1024
)

// AuditClip returns s cut to at most n bytes at a rune boundary, ending with "…" when it was
// cut; n must be at least 3, the length of "…". Callers use it to fit a field an AuditLog
// bounds: a name given at a failed sign-in, a long detail.
func AuditClip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// AuditEntry is one line of the audit trail: who did what, from where, when. Entries are
// never changed or deleted through the API; retention removes the oldest.
type AuditEntry struct {
	Seq      uint64      // assigned by the log, increasing; 0 before it is appended
	Time     time.Time   // when it happened
	Action   AuditAction // what happened
	Username string      // who did it (for a failed sign-in: the name given)
	Role     Role        // the role they acted in, "" when none (a failed sign-in)
	Source   string      // where from: the client's address ("127.0.0.1" is the LCD)
	Details  string      // what exactly, in words: "alert 12 acknowledged: valve checked"
}

// AuditFilter selects audit entries. The zero value selects all.
type AuditFilter struct {
	Since, Until time.Time   // [Since, Until); zero means open
	Username     string      // "" for any
	Action       AuditAction // "" for any
	BeforeSeq    uint64      // only entries with Seq below this (paging backwards); 0 for no bound
}

// AuditLog is the append-only audit trail. Implementation: store/bolt.DB.
type AuditLog interface {
	// AppendAudit records e (its Seq is assigned) durably before it returns.
	AppendAudit(ctx context.Context, e AuditEntry) error
	// ScanAudit calls fn with the entries that match f, newest first, until fn returns false.
	ScanAudit(ctx context.Context, f AuditFilter, fn func(AuditEntry) bool) error
}

// auditTimeout bounds one append to the audit log. The append outlives the caller's
// context: a change that has happened is recorded even when the request that made it ends.
const auditTimeout = 10 * time.Second

// appendAudit records the entry of action by actor in l, clipped to the log's bounds. A
// failure is logged at error level and does not undo the change, which has happened already.
func appendAudit(ctx context.Context, l AuditLog, log *slog.Logger, at time.Time, by Actor, action AuditAction, details string) {
	e := AuditEntry{Time: at, Action: action, Username: AuditClip(by.Username, AuditMaxUsername), Role: by.Role,
		Source: AuditClip(by.Source, AuditMaxSource), Details: AuditClip(details, AuditMaxDetails)}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditTimeout)
	defer cancel()
	if err := l.AppendAudit(ctx, e); err != nil {
		log.LogAttrs(ctx, slog.LevelError, "append audit entry",
			slog.String("action", string(e.Action)), slog.String("username", e.Username),
			slog.String("source", e.Source), slog.Any("err", err))
	}
}
