// Package ui holds the operator UI as it is served, embedded from web/ui/dist. For now dist
// holds a committed placeholder page with links to the API; the UI issue adds the Vue sources
// (web/ui/src) and the Vite build that writes dist, which the placeholder keeps `go build`
// working without.
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
