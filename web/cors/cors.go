// Package cors holds the one rule of which origins may call the API from another origin
// (http.cors_origins): web's server applies it, and the configuration check refuses what the
// server would refuse. It depends on the standard library only, so the check does not link
// the web server.
package cors

import (
	"fmt"
	"net/url"
	"strings"
)

// ParseOrigins checks the origins that may call the API from a browser and returns them as a
// set. Each must be an origin exactly as a browser sends it in the Origin header: http or
// https, a host and an optional port, nothing else, in lowercase (the header is compared byte
// for byte). The error, an *OriginError, names the first origin refused and its index.
func ParseOrigins(origins []string) (map[string]bool, error) {
	out := make(map[string]bool, len(origins))
	for i, o := range origins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil || strings.ToLower(o) != o {
			return nil, &OriginError{Index: i, Origin: o}
		}
		out[o] = true
	}
	return out, nil
}

// OriginError is ParseOrigins's error: the origin at Index is not one a browser sends.
type OriginError struct {
	Index  int
	Origin string
}

// Error says what is wrong with the origin and what is wanted.
func (e *OriginError) Error() string {
	return fmt.Sprintf("cors origin %q: want scheme://host[:port] in lowercase, such as https://ui.example:8443", e.Origin)
}
