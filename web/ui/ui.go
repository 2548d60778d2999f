// Package ui holds the operator UI as it is served: the Vite build of the Vue sources in
// web/ui/src, embedded from web/ui/dist. A fresh clone carries a committed placeholder page in
// dist, so `go build` works before the UI has been built; `make build` replaces it.
package ui

import (
	"embed"
	"io/fs"
)

// dist is read-only: embed.FS cannot be changed after the build.
//
//go:embed all:dist
var dist embed.FS

// FS returns the built UI with index.html at its root.
func FS() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		// fs.Sub fails only for an invalid path name, and "dist" is a valid one.
		panic(err)
	}
	return sub
}
