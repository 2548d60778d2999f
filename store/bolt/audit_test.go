package bolt_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	bbolt "go.etcd.io/bbolt"

	"mask.services/maskservice"
	"mask.services/maskservice/store/bolt"
)

// The interface is what the daemon hands web; the store must keep implementing it.
var _ maskservice.AuditLog = (*bolt.DB)(nil)

// auditEntries are appended in this order by mustAppendAudit; their times are t0 plus i
// minutes, except the pre-1970 one, which must sort first.
var auditEntries = []maskservice.AuditEntry{
	{Action: maskservice.AuditLogin, Username: "anna", Role: maskservice.RoleSuperuser, Source: "127.0.0.1"},
	{Action: maskservice.AuditLoginFailed, Username: "jan", Role: maskservice.RoleOperator, Source: "192.0.2.7", Details: "wrong password"},
	{Action: maskservice.AuditLockout, Username: "jan", Role: maskservice.RoleOperator, Source: "192.0.2.7"},
	{Action: maskservice.AuditUserUpdate, Username: "anna", Role: maskservice.RoleSuperuser, Source: "127.0.0.1", Details: "jan: unlocked"},
	{Action: maskservice.AuditLogout, Username: "anna", Role: maskservice.RoleSuperuser, Source: "127.0.0.1"},
}

// mustAppendAudit appends auditEntries with times t0 + i minutes and returns them with the
// sequences the log must have given them (1, 2, ...).
func mustAppendAudit(tb testing.TB, db *bolt.DB) []maskservice.AuditEntry {
	tb.Helper()
	out := make([]maskservice.AuditEntry, len(auditEntries))
	for i, e := range auditEntries {
		e.Time = t0.Add(time.Duration(i) * time.Minute)
		if err := db.AppendAudit(ctx, e); err != nil {
			tb.Fatalf("append %d: %v", i, err)
		}
		e.Seq = uint64(i + 1)
		out[i] = e
	}
	return out
}

// scanAll collects what ScanAudit hands out for f.
func scanAll(tb testing.TB, db *bolt.DB, f maskservice.AuditFilter) []maskservice.AuditEntry {
	tb.Helper()
	var got []maskservice.AuditEntry
	if err := db.ScanAudit(ctx, f, func(e maskservice.AuditEntry) bool {
		got = append(got, e)
		return true
	}); err != nil {
		tb.Fatal(err)
	}
	return got
}

// seqs returns the sequences of es.
func seqs(es []maskservice.AuditEntry) []uint64 {
	out := make([]uint64, len(es))
	for i, e := range es {
		out[i] = e.Seq
	}
	return out
}

func TestAudit_AppendAndScanNewestFirst(t *testing.T) {
	db, _ := MustOpenDB(t)
	want := mustAppendAudit(t, db)
	slices.Reverse(want)
	got := scanAll(t, db, maskservice.AuditFilter{})
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d", len(got), len(want))
	}
	for i := range want {
		if !got[i].Time.Equal(want[i].Time) || got[i].Time.Location() != time.UTC {
			t.Errorf("entry %d: time %v, want %v in UTC", i, got[i].Time, want[i].Time)
		}
		got[i].Time = want[i].Time
		if got[i] != want[i] {
			t.Errorf("entry %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

func TestAudit_Filters(t *testing.T) {
	db, _ := MustOpenDB(t)
	mustAppendAudit(t, db) // seq i+1 at t0 + i min
	tests := []struct {
		name string
		f    maskservice.AuditFilter
		want []uint64
	}{
		{"all", maskservice.AuditFilter{}, []uint64{5, 4, 3, 2, 1}},
		{"since, inclusive", maskservice.AuditFilter{Since: t0.Add(2 * time.Minute)}, []uint64{5, 4, 3}},
		{"until, exclusive", maskservice.AuditFilter{Until: t0.Add(2 * time.Minute)}, []uint64{2, 1}},
		{"until between entries", maskservice.AuditFilter{Until: t0.Add(150 * time.Second)}, []uint64{3, 2, 1}},
		{"until after the last", maskservice.AuditFilter{Until: t0.Add(time.Hour)}, []uint64{5, 4, 3, 2, 1}},
		{"until before the first", maskservice.AuditFilter{Until: t0.Add(-time.Hour)}, nil},
		{"since and until", maskservice.AuditFilter{Since: t0.Add(time.Minute), Until: t0.Add(3 * time.Minute)}, []uint64{3, 2}},
		{"since after the last", maskservice.AuditFilter{Since: t0.Add(time.Hour)}, nil},
		{"username", maskservice.AuditFilter{Username: "jan"}, []uint64{3, 2}},
		{"unknown username", maskservice.AuditFilter{Username: "nobody"}, nil},
		{"action", maskservice.AuditFilter{Action: maskservice.AuditLogin}, []uint64{1}},
		{"username and action", maskservice.AuditFilter{Username: "anna", Action: maskservice.AuditUserUpdate}, []uint64{4}},
		{"before seq", maskservice.AuditFilter{BeforeSeq: 4}, []uint64{3, 2, 1}},
		{"before seq 1", maskservice.AuditFilter{BeforeSeq: 1}, nil},
		{"before seq and username", maskservice.AuditFilter{BeforeSeq: 3, Username: "jan"}, []uint64{2}},
		{"everything", maskservice.AuditFilter{Since: t0, Until: t0.Add(4 * time.Minute), Username: "anna", BeforeSeq: 5}, []uint64{4, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := seqs(scanAll(t, db, tt.f)); !slices.Equal(got, tt.want) {
				t.Errorf("seqs %v, want %v", got, tt.want)
			}
		})
	}
}

func TestAudit_StopsWhenFnSaysSo(t *testing.T) {
	db, _ := MustOpenDB(t)
	mustAppendAudit(t, db)
	n := 0
	if err := db.ScanAudit(ctx, maskservice.AuditFilter{}, func(maskservice.AuditEntry) bool {
		n++
		return n < 2
	}); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("fn called %d times, want 2", n)
	}
}

// TestAudit_PagingAcrossBatches pages through more entries than one read transaction copies
// out, with entries sharing a time, and a filter that skips most of them.
func TestAudit_PagingAcrossBatches(t *testing.T) {
	db, _ := MustOpenDB(t)
	const n = 1234
	for i := range n {
		e := maskservice.AuditEntry{Time: t0.Add(time.Duration(i/3) * time.Second), Action: maskservice.AuditLogin,
			Username: fmt.Sprintf("user%d", i%7), Role: maskservice.RoleOperator, Source: "192.0.2.1"}
		if err := db.AppendAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	// Everything, newest first: the sequences n..1, since times never go back.
	all := seqs(scanAll(t, db, maskservice.AuditFilter{}))
	if len(all) != n || all[0] != n || all[n-1] != 1 || !slices.IsSortedFunc(all, func(a, b uint64) int { return int(b) - int(a) }) {
		t.Fatalf("scan of %d: got %d entries, first %v", n, len(all), all[:min(3, len(all))])
	}
	// Pages of 100 as the API asks for them: each from the last seq of the one before.
	for _, user := range []string{"", "user3"} {
		var paged []uint64
		var before uint64
		for page := 0; ; page++ {
			var got []maskservice.AuditEntry
			err := db.ScanAudit(ctx, maskservice.AuditFilter{Username: user, BeforeSeq: before}, func(e maskservice.AuditEntry) bool {
				got = append(got, e)
				return len(got) < 100
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) == 0 {
				break
			}
			paged = append(paged, seqs(got)...)
			before = got[len(got)-1].Seq
			if page > n {
				t.Fatal("paging does not end")
			}
		}
		want := seqs(scanAll(t, db, maskservice.AuditFilter{Username: user}))
		if !slices.Equal(paged, want) {
			t.Errorf("user %q: paging gave %d entries, a scan %d", user, len(paged), len(want))
		}
	}
}

func TestAudit_BeforeEpochSortsFirst(t *testing.T) {
	db, _ := MustOpenDB(t)
	times := []time.Time{t0, time.Date(1969, 12, 31, 23, 0, 0, 0, time.UTC), time.Unix(0, 0), time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC)}
	for _, tm := range times {
		if err := db.AppendAudit(ctx, maskservice.AuditEntry{Time: tm, Action: maskservice.AuditLogin, Username: "anna"}); err != nil {
			t.Fatal(err)
		}
	}
	if got := seqs(scanAll(t, db, maskservice.AuditFilter{})); !slices.Equal(got, []uint64{1, 3, 2, 4}) {
		t.Errorf("newest first: seqs %v, want [1 3 2 4]", got)
	}
	if got := seqs(scanAll(t, db, maskservice.AuditFilter{Until: time.Unix(0, 0)})); !slices.Equal(got, []uint64{2, 4}) {
		t.Errorf("before 1970: seqs %v, want [2 4]", got)
	}
}

func TestAudit_Trim(t *testing.T) {
	tests := []struct {
		name    string
		n       int // entries, one a second from t0
		before  time.Duration
		deleted int
	}{
		{"nothing older", 10, 0, 0},
		{"some", 10, 4 * time.Second, 4},
		{"all", 10, time.Hour, 10},
		{"more than a batch", 4500, 4321 * time.Second, 4321},
		{"empty log", 0, time.Hour, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, _ := MustOpenDB(t)
			for i := range tt.n {
				if err := db.AppendAudit(ctx, maskservice.AuditEntry{Time: t0.Add(time.Duration(i) * time.Second), Action: maskservice.AuditLogin}); err != nil {
					t.Fatal(err)
				}
			}
			n, err := db.TrimAudit(ctx, t0.Add(tt.before))
			if err != nil || n != tt.deleted {
				t.Fatalf("TrimAudit = %d, %v; want %d", n, err, tt.deleted)
			}
			got := scanAll(t, db, maskservice.AuditFilter{})
			if len(got) != tt.n-tt.deleted {
				t.Fatalf("%d entries left, want %d", len(got), tt.n-tt.deleted)
			}
			if oldest := t0.Add(time.Duration(tt.deleted) * time.Second); len(got) > 0 && !got[len(got)-1].Time.Equal(oldest) {
				t.Errorf("oldest left at %v, want %v", got[len(got)-1].Time, oldest)
			}
			// The sequence goes on after a trim: sequences are never reused.
			if err := db.AppendAudit(ctx, maskservice.AuditEntry{Time: t0.Add(24 * time.Hour), Action: maskservice.AuditLogout}); err != nil {
				t.Fatal(err)
			}
			if got := scanAll(t, db, maskservice.AuditFilter{}); got[0].Seq != uint64(tt.n+1) {
				t.Errorf("next seq %d, want %d", got[0].Seq, tt.n+1)
			}
		})
	}
}

func TestAudit_TrimHonoursContext(t *testing.T) {
	db, _ := MustOpenDB(t)
	c, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := db.TrimAudit(c, t0); !errors.Is(err, context.Canceled) {
		t.Errorf("TrimAudit with a cancelled context: %v", err)
	}
	if err := db.AppendAudit(c, maskservice.AuditEntry{Time: t0, Action: maskservice.AuditLogin}); !errors.Is(err, context.Canceled) {
		t.Errorf("AppendAudit with a cancelled context: %v", err)
	}
}

func TestAudit_SurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	db := mustOpenAt(t, dir)
	want := mustAppendAudit(t, db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = mustOpenAt(t, dir)
	got := scanAll(t, db, maskservice.AuditFilter{Action: maskservice.AuditLockout})
	if len(got) != 1 || got[0].Seq != want[2].Seq || got[0].Username != "jan" || !got[0].Time.Equal(want[2].Time) {
		t.Fatalf("after reopen: %+v, want %+v", got, want[2])
	}
	// The sequence is kept in the file too.
	if err := db.AppendAudit(ctx, maskservice.AuditEntry{Time: t0.Add(time.Hour), Action: maskservice.AuditLogin}); err != nil {
		t.Fatal(err)
	}
	if got := scanAll(t, db, maskservice.AuditFilter{}); got[0].Seq != uint64(len(want)+1) {
		t.Errorf("seq after reopen %d, want %d", got[0].Seq, len(want)+1)
	}
}

func TestAudit_RefusesInvalid(t *testing.T) {
	long := strings.Repeat("x", 65)
	tests := []struct {
		name string
		e    maskservice.AuditEntry
		want string
	}{
		{"no action", maskservice.AuditEntry{Time: t0}, "no action"},
		{"no time", maskservice.AuditEntry{Action: maskservice.AuditLogin}, "no time"},
		{"long username", maskservice.AuditEntry{Time: t0, Action: maskservice.AuditLogin, Username: long}, "username longer than 64"},
		{"long source", maskservice.AuditEntry{Time: t0, Action: maskservice.AuditLogin, Source: long}, "source longer than 64"},
		{"unknown role", maskservice.AuditEntry{Time: t0, Action: maskservice.AuditLogin, Role: "ROOT"}, "unknown role"},
		{"long action", maskservice.AuditEntry{Time: t0, Action: maskservice.AuditAction(long)}, "action longer than 64"},
	}
	db, _ := MustOpenDB(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := db.AppendAudit(ctx, tt.e)
			if maskservice.ErrorCode(err) != maskservice.EINVALID || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("AppendAudit: %v; want an EINVALID naming %q", err, tt.want)
			}
		})
	}
	if got := scanAll(t, db, maskservice.AuditFilter{}); len(got) != 0 {
		t.Errorf("%d refused entries were stored", len(got))
	}
}

// TestAudit_LongDetailsCut stores Details over the bound cut to it, at a rune boundary.
func TestAudit_LongDetailsCut(t *testing.T) {
	db, _ := MustOpenDB(t)
	details := strings.Repeat("ż", 600) // 1200 bytes
	if err := db.AppendAudit(ctx, maskservice.AuditEntry{Time: t0, Action: maskservice.AuditUserUpdate, Details: details}); err != nil {
		t.Fatal(err)
	}
	got := scanAll(t, db, maskservice.AuditFilter{})[0].Details
	if len(got) > maskservice.AuditMaxDetails || !utf8.ValidString(got) || !strings.HasSuffix(got, "…") || !strings.HasPrefix(details, strings.TrimSuffix(got, "…")) {
		t.Errorf("details of %d bytes stored as %d bytes: %q…", len(details), len(got), got[len(got)-12:])
	}
}

// TestAudit_RecordFormat pins the stored key and value, which doc.go documents.
func TestAudit_RecordFormat(t *testing.T) {
	db, dir := MustOpenDB(t)
	if err := db.AppendAudit(ctx, maskservice.AuditEntry{Time: t0, Action: maskservice.AuditLogin, Username: "anna",
		Role: maskservice.RoleAdmin, Source: "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	rawUpdate(t, dir+"/"+bolt.FileName, func(tx *bbolt.Tx) error {
		k, v := tx.Bucket([]byte("audit")).Cursor().First()
		wantKey := fmt.Sprintf("%016x%016x", uint64(t0.UnixNano())^(1<<63), 1)
		if fmt.Sprintf("%x", k) != wantKey {
			t.Errorf("key %x, want %s", k, wantKey)
		}
		const wantVal = `{"v":1,"time":"2026-11-27T08:00:00Z","action":"login","username":"anna","role":"ADMIN","source":"127.0.0.1"}`
		if string(v) != wantVal {
			t.Errorf("value %s, want %s", v, wantVal)
		}
		return nil
	})
}
