package ui

import (
	"io/fs"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"mask.services/maskservice"
	"mask.services/maskservice/web/auth"
)

// The embedded UI is whole: the Vite build with every file its index.html loads, or, after a
// plain go build, the placeholder that says how to build it.
func TestFS(t *testing.T) {
	index, err := fs.ReadFile(FS(), "index.html")
	if err != nil {
		t.Fatalf("index.html: %v", err)
	}
	if !Built() {
		if !strings.Contains(string(index), "make build") {
			t.Errorf("placeholder does not say how to build the UI:\n%s", index)
		}
		return
	}
	if !strings.Contains(string(index), `<div id="app">`) {
		t.Errorf("built index.html has no app element:\n%s", index)
	}
	refs := regexp.MustCompile(`(?:src|href)="/([^"]+)"`).FindAllStringSubmatch(string(index), -1)
	if len(refs) < 2 {
		t.Fatalf("built index.html loads %d files, want the script and the style sheet:\n%s", len(refs), index)
	}
	for _, m := range refs {
		if _, err := fs.Stat(FS(), m[1]); err != nil {
			t.Errorf("index.html loads /%s, which is not embedded: %v", m[1], err)
		}
	}
	// No file may come from elsewhere: the device has no internet.
	for _, bad := range []string{"http://", "https://", "//cdn"} {
		if strings.Contains(string(index), bad) {
			t.Errorf("index.html refers to %q", bad)
		}
	}
}

// The UI carries a few facts of the Go side that it needs before anyone signs in or between
// requests: the role colours of the sign-in tiles and the access token's lifetime. They must
// say what the Go side says.
func TestSourcesAgreeWithGo(t *testing.T) {
	src, err := os.ReadFile("src/stores/session.ts")
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile(`(?s)ROLE_COLORS[^{]*\{(.*?)\}`).FindSubmatch(src)
	if block == nil {
		t.Fatal("session.ts: no ROLE_COLORS table")
	}
	colors := map[string]string{}
	for _, m := range regexp.MustCompile(`(\w+): '(#[0-9a-fA-F]{6})'`).FindAllSubmatch(block[1], -1) {
		colors[string(m[1])] = string(m[2])
	}
	roles := maskservice.Roles()
	if len(colors) != len(roles) {
		t.Errorf("session.ts ROLE_COLORS has %d roles, role.go %d: %v", len(colors), len(roles), colors)
	}
	for _, r := range roles {
		if got := colors[string(r.Role)]; !strings.EqualFold(got, r.Color) {
			t.Errorf("role %s: session.ts colour %q, role.go %q", r.Role, got, r.Color)
		}
	}
	ttl := regexp.MustCompile(`ACCESS_TTL_MS = (\d+) \* 60_000`).FindSubmatch(src)
	if ttl == nil {
		t.Fatal("session.ts: no ACCESS_TTL_MS = N * 60_000")
	}
	if min, _ := strconv.Atoi(string(ttl[1])); time.Duration(min)*time.Minute != auth.AccessTTL {
		t.Errorf("session.ts ACCESS_TTL_MS is %s min, web/auth.AccessTTL %s", ttl[1], auth.AccessTTL)
	}
}
