// Package ui holds the operator UI as it is served: the Vue 3 application of web/ui/src,
// built by Vite into web/ui/dist and embedded from there.
//
// `make build` runs `npm ci` and the Vite build before compiling the daemon. A plain
// `go build` on a fresh clone, where dist holds only its .gitkeep, embeds the placeholder page
// instead, which says how to build the UI; nothing else changes.
package ui

import (
	"embed"
	"io/fs"
)

// Both are read-only: embed.FS cannot be changed after the build.
var (
	//go:embed all:dist
	dist embed.FS
	//go:embed placeholder
	placeholder embed.FS
)

// FS returns the UI with index.html at its root: the Vite build if it was embedded, the
// placeholder page otherwise.
func FS() fs.FS {
	if Built() {
		return sub(dist, "dist")
	}
	return sub(placeholder, "placeholder")
}

// Built reports whether the binary holds the Vite build rather than the placeholder.
func Built() bool {
	_, err := fs.Stat(dist, "dist/index.html")
	return err == nil
}

func sub(f embed.FS, dir string) fs.FS {
	s, err := fs.Sub(f, dir)
	if err != nil {
		// fs.Sub fails only for an invalid path name, and both names are valid.
		panic(err)
	}
	return s
}
