package web_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"mask.services/maskservice"
	"mask.services/maskservice/web"
)

// TestServer_Backup checks GET /api/backup: only a role with full_system_access (SUPERUSER)
// gets the copy, as an attachment of the announced length.
func TestServer_Backup(t *testing.T) {
	f := newFixture(t, fixtureConfig{noRun: true})
	wantName := `attachment; filename="maskservice-C15.25.1010-` + f.clock.Now().UTC().Format("20060102T150405Z") + `.db"`
	for _, tc := range []struct {
		role   maskservice.Role
		status int
	}{
		{maskservice.RoleSuperuser, http.StatusOK},
		{maskservice.RoleOperator, http.StatusForbidden},
		{maskservice.RoleAdmin, http.StatusForbidden},
		{maskservice.RoleServiceTech, http.StatusForbidden},
		{"", http.StatusUnauthorized},
	} {
		who := string(tc.role)
		if who == "" {
			who = "anonymous"
		}
		t.Run("as "+who, func(t *testing.T) {
			if tc.status == http.StatusOK != maskservice.Role(tc.role).Can(maskservice.PermFullSystemAccess) {
				t.Fatalf("the table disagrees with the permission table for %s", tc.role)
			}
			res := f.do(t, http.MethodGet, "/api/backup", f.as(tc.role))
			switch tc.status {
			case http.StatusOK:
				if res.status != http.StatusOK || !bytes.Equal(res.body, backupBytes) {
					t.Fatalf("status %d body %q, want 200 and the copy", res.status, res.body)
				}
				for k, want := range map[string]string{
					"Content-Type":        "application/octet-stream",
					"Content-Length":      strconv.Itoa(len(backupBytes)),
					"Content-Disposition": wantName,
					"Cache-Control":       "no-store",
				} {
					if got := res.header.Get(k); got != want {
						t.Errorf("%s %q, want %q", k, got, want)
					}
				}
			case http.StatusForbidden:
				wantError(t, res, http.StatusForbidden, maskservice.EFORBIDDEN, string(maskservice.PermFullSystemAccess))
			case http.StatusUnauthorized:
				wantError(t, res, http.StatusUnauthorized, maskservice.EUNAUTHORIZED, "sign in")
			}
		})
	}
	t.Run("HEAD sends the headers alone", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodHead, "/api/backup", nil)
		f.authorize(req, maskservice.RoleSuperuser)
		rec := httptest.NewRecorder()
		f.handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || rec.Body.Len() != 0 || rec.Header().Get("Content-Length") != strconv.Itoa(len(backupBytes)) {
			t.Errorf("status %d, %d body bytes, Content-Length %q", rec.Code, rec.Body.Len(), rec.Header().Get("Content-Length"))
		}
	})
}

func TestServer_BackupFailures(t *testing.T) {
	write := func(b []byte) func(context.Context, io.Writer) (int64, error) {
		return func(_ context.Context, w io.Writer) (int64, error) {
			n, err := w.Write(b)
			return int64(n), err
		}
	}
	size := func(n int64, err error) func(context.Context) (int64, error) {
		return func(context.Context) (int64, error) { return n, err }
	}
	t.Run("no backup in this daemon", func(t *testing.T) {
		f := newFixture(t, fixtureConfig{noRun: true, opts: func(o *web.Options) { o.Backup, o.BackupSize = nil, nil }})
		res := f.do(t, http.MethodGet, "/api/backup", f.as(maskservice.RoleSuperuser))
		wantError(t, res, http.StatusServiceUnavailable, maskservice.EUNAVAILABLE, "not available")
	})
	t.Run("size fails", func(t *testing.T) {
		f := newFixture(t, fixtureConfig{noRun: true, opts: func(o *web.Options) { o.BackupSize = size(0, errors.New("disk gone")) }})
		res := f.do(t, http.MethodGet, "/api/backup", f.as(maskservice.RoleSuperuser))
		wantError(t, res, http.StatusInternalServerError, maskservice.EINTERNAL, "internal error")
	})
	// The copy is not as long as announced (the file grew or the copy failed): the client
	// must see a broken download, never a whole body of the announced length.
	for _, tc := range []struct {
		name   string
		backup func(context.Context, io.Writer) (int64, error)
	}{
		{"longer than announced", write(bytes.Repeat([]byte("x"), 100))},
		{"shorter than announced", write([]byte("x"))},
		{"exactly as long, then fails", func(ctx context.Context, w io.Writer) (int64, error) {
			n, _ := write(bytes.Repeat([]byte("x"), 10))(ctx, w)
			return n, errors.New("read error")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, fixtureConfig{noRun: true, opts: func(o *web.Options) {
				o.Backup, o.BackupSize = tc.backup, size(10, nil)
			}})
			ts := httptest.NewServer(f.handler)
			t.Cleanup(ts.Close)
			req, err := http.NewRequest(http.MethodGet, ts.URL+"/api/backup", nil)
			if err != nil {
				t.Fatal(err)
			}
			f.authorize(req, maskservice.RoleSuperuser)
			resp, err := ts.Client().Do(req)
			if err != nil {
				return // broken before the headers: fine too
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err == nil {
				t.Errorf("the download of %d bytes looked complete: %q", len(body), body)
			}
			if len(body) >= 10 {
				t.Errorf("the client got %d bytes of 10 announced", len(body))
			}
		})
	}
}
