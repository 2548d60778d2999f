package web_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"mask.services/maskservice"
)

func TestServer_WriteError(t *testing.T) {
	f := newFixture(t, fixtureConfig{noRun: true})
	tests := []struct {
		name    string
		err     error
		status  int
		code    string
		message string
		logged  bool // written to the log as an internal error
	}{
		{"domain error", maskservice.Errorf(maskservice.ELOCKED, "account locked"), 423, maskservice.ELOCKED, "account locked", false},
		{"wrapped domain error", fmt.Errorf("load sensor: %w", maskservice.Errorf(maskservice.ENOTFOUND, "no sensor P9")), 404, maskservice.ENOTFOUND, "no sensor P9", false},
		{"plain error", errors.New("open /var/lib/x: permission denied"), 500, maskservice.EINTERNAL, "internal error", true},
		{"code missing from the table", &maskservice.Error{Code: "weird", Message: "secret detail"}, 500, maskservice.EINTERNAL, "internal error", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodGet, "/api/"+strings.ReplaceAll(tt.name, " ", "-"), nil)
			f.srv.WriteError(rec, req, tt.err)
			res := response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
			wantError(t, res, tt.status, tt.code, tt.message)
			if strings.Contains(string(res.body), "secret") || strings.Contains(string(res.body), "/var/lib") {
				t.Errorf("internal detail reached the client: %s", res.body)
			}
			if logged := strings.Contains(f.logs.String(), req.URL.Path); logged != tt.logged {
				t.Errorf("logged %v, want %v:\n%s", logged, tt.logged, f.logs)
			}
		})
	}
}
