package web

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"mask.services/maskservice"
)

// parseHosts checks the allowed host names and returns them as a set, lower case, without
// a trailing dot.
func parseHosts(names []string) (map[string]bool, error) {
	set := make(map[string]bool, len(names))
	for i, n := range names {
		h := normalHost(n)
		if h == "" || strings.ContainsAny(h, "/:@ \t") {
			return nil, fmt.Errorf("allowed host %d: %q is not a host name", i, n)
		}
		set[h] = true
	}
	return set, nil
}

// normalHost is name in lower case without a trailing dot.
func normalHost(name string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(name)), ".")
}

// hostAllowed reports whether a request's Host names this device: any IP address (an
// address cannot be rebound to another's), localhost and its subdomains, or one of
// Options.AllowedHosts. A request without a Host (HTTP/1.0) does not come from a browser
// page and passes.
func (s *Server) hostAllowed(hostport string) bool {
	if hostport == "" {
		return true
	}
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = normalHost(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	return host == "localhost" || strings.HasSuffix(host, ".localhost") || s.hosts[host]
}

// refuseHost answers a request whose Host is none of the device's names.
func (s *Server) refuseHost(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, r, maskservice.Errorf(maskservice.EFORBIDDEN,
		"host %s is not a name of this device; use its address, or add the name to http.allowed_hosts", echo(r.Host)))
}

// sameSiteWrite reports whether a write that a cookie authenticates comes from a page the
// device trusts: a browser names the page's origin in Origin and how it relates to ours in
// Sec-Fetch-Site. A foreign page is refused even when it got hold of a CSRF token; an
// allowed CORS origin passes. A request with neither header is no browser's page (curl, a
// script), which the CSRF token already binds.
func (s *Server) sameSiteWrite(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin != "" && origin != "null" {
		if s.cors[origin] {
			return true
		}
		u, err := url.Parse(origin)
		return err == nil && strings.EqualFold(u.Scheme, requestScheme(r)) && strings.EqualFold(u.Host, r.Host)
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
		return origin == "" // "Origin: null" is an opaque page (a sandbox, a data: URL)
	}
	return false
}

// requestScheme is the scheme the client used to reach us.
func requestScheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}
