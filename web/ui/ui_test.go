package ui

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"
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
