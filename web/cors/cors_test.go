package cors_test

import (
	"errors"
	"testing"

	"mask.services/maskservice/web/cors"
)

func TestParseOrigins(t *testing.T) {
	for _, tt := range []struct {
		origin string
		ok     bool
	}{
		{"https://ui.example:8443", true},
		{"http://127.0.0.1:5173", true},
		{"https://Panel.example:8443", false}, // a browser sends the host in lowercase
		{"HTTPS://panel.example", false},
		{"https://ui.example/", false},
		{"https://ui.example?x=1", false},
		{"https://user@ui.example", false},
		{"ftp://ui.example", false},
		{"*", false},
		{"", false},
	} {
		set, err := cors.ParseOrigins([]string{"https://first.example", tt.origin})
		if tt.ok != (err == nil) || (tt.ok && !set[tt.origin]) {
			t.Errorf("ParseOrigins(%q) = %v, %v; want ok %v", tt.origin, set, err, tt.ok)
		}
		var oe *cors.OriginError
		if !tt.ok && (!errors.As(err, &oe) || oe.Index != 1 || oe.Origin != tt.origin) {
			t.Errorf("ParseOrigins(%q): error %v, want an OriginError of index 1", tt.origin, err)
		}
	}
}
