package web_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"mask.services/maskservice"
)

// redocBundle is ReDoc's bundle as scripts/vendor-redoc.sh vendored it, uncompressed, and its
// version.
func redocBundle(tb testing.TB) (js []byte, version string) {
	tb.Helper()
	gz, err := os.ReadFile("redoc/redoc.standalone.js.gz")
	must(tb, err)
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	must(tb, err)
	js, err = io.ReadAll(zr)
	must(tb, err)
	v, err := os.ReadFile("redoc/VERSION")
	must(tb, err)
	return js, strings.TrimSpace(string(v))
}

// head sends a HEAD request without a token, past the spec's check (the spec documents GET
// only; the router serves HEAD wherever it serves GET).
func head(tb testing.TB, f *fixture, target string, mods ...func(*http.Request)) response {
	tb.Helper()
	req := httptest.NewRequest(http.MethodHead, target, nil)
	for _, m := range mods {
		m(req)
	}
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, req)
	return response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

func TestServer_Redoc(t *testing.T) {
	f := newFixture(t, fixtureConfig{noRun: true})
	_, version := redocBundle(t)
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		t.Run(method, func(t *testing.T) {
			// Public: no token.
			res := head(t, f, "/api/redoc")
			if method == http.MethodGet {
				res = f.do(t, method, "/api/redoc", f.as(""))
			}
			if res.status != 200 || res.header.Get("Content-Type") != "text/html; charset=utf-8" {
				t.Fatalf("%s /api/redoc: %d %q", method, res.status, res.header.Get("Content-Type"))
			}
			page, err := os.ReadFile("redoc/redoc.html")
			must(t, err)
			if n := res.header.Get("Content-Length"); n != strconv.Itoa(len(page)) {
				t.Errorf("Content-Length %s, want %d", n, len(page))
			}
			if method == http.MethodHead {
				if len(res.body) != 0 {
					t.Errorf("HEAD answered a body of %d bytes", len(res.body))
				}
				return
			}
			body := string(res.body)
			for _, want := range []string{
				`<redoc spec-url="/api/openapi.json">`,
				// The script's URL names the version, which is what lets it be cached for good.
				`<script src="/api/redoc.js?v=` + version + `"></script>`,
				"<title>MASKSERVICE C20 1001 Backend API - reference</title>",
			} {
				if !strings.Contains(body, want) {
					t.Errorf("the page lacks %s:\n%s", want, body)
				}
			}
			// No inline script (the CSP would refuse it), nothing from elsewhere.
			if strings.Count(body, "<script") != 1 {
				t.Errorf("the page has %d script elements, want the one of /api/redoc.js", strings.Count(body, "<script"))
			}
			for _, external := range []string{"http://", "https://", "//cdn", "@import"} {
				if strings.Contains(body, external) {
					t.Errorf("the page refers to %q: it must work without internet access", external)
				}
			}
		})
	}
	t.Run("content security policy", func(t *testing.T) {
		csp := f.get(t, "/api/redoc").header.Get("Content-Security-Policy")
		// The server's policy, plus the blob: worker in which ReDoc builds its search index.
		want := "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
			"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; worker-src blob:"
		if csp != want {
			t.Errorf("Content-Security-Policy %q, want %q", csp, want)
		}
	})
}

func TestServer_RedocJS(t *testing.T) {
	f := newFixture(t, fixtureConfig{noRun: true})
	js, version := redocBundle(t)
	// The first line names the notices file that web/redoc vendors beside the bundle.
	if !bytes.HasPrefix(js, []byte("/*! For license information please see redoc.standalone.js.LICENSE.txt */\n")) {
		t.Fatalf("the vendored bundle starts with %.80q", js)
	}
	if _, err := os.Stat("redoc/redoc.standalone.js.LICENSE.txt"); err != nil {
		t.Error(err)
	}
	for _, tc := range []struct {
		accept string
		gzip   bool
	}{
		{"", false},
		{"identity", false},
		{"gzip", true},
		{"GZIP", true},
		{"x-gzip", true},
		{"gzip, deflate, br, zstd", true}, // Chromium's
		{"br;q=1.0, gzip;q=0.8, *;q=0.1", true},
		{"gzip;q=0", false},
		{"gzip; q=0.000", false},
		{"gzip;q=nonsense", false},
		{"*", true},
		{"*;q=0", false},
		{"gzip;q=0, *", false}, // gzip itself is refused, whatever * says
		{"deflate, br", false},
	} {
		t.Run(tc.accept, func(t *testing.T) {
			res := f.do(t, http.MethodGet, "/api/redoc.js", f.as(""), withHeader("Accept-Encoding", tc.accept))
			if res.status != 200 || res.header.Get("Content-Type") != "text/javascript; charset=utf-8" {
				t.Fatalf("GET /api/redoc.js: %d %q", res.status, res.header.Get("Content-Type"))
			}
			if !slices.Contains(res.header.Values("Vary"), "Accept-Encoding") {
				t.Errorf("Vary %q, want Accept-Encoding", res.header.Values("Vary"))
			}
			if n := res.header.Get("Content-Length"); n != strconv.Itoa(len(res.body)) {
				t.Errorf("Content-Length %s, body %d bytes", n, len(res.body))
			}
			body := res.body
			if enc := res.header.Get("Content-Encoding"); tc.gzip {
				if enc != "gzip" {
					t.Fatalf("Content-Encoding %q, want gzip", enc)
				}
				zr, err := gzip.NewReader(bytes.NewReader(body))
				must(t, err)
				body, err = io.ReadAll(zr)
				must(t, err)
			} else if enc != "" {
				t.Fatalf("Content-Encoding %q, want none", enc)
			}
			if !bytes.Equal(body, js) {
				t.Errorf("the script decodes to %d bytes starting %.60q, want the vendored bundle (%d bytes)", len(body), body, len(js))
			}
			headRes := head(t, f, "/api/redoc.js", withHeader("Accept-Encoding", tc.accept))
			if headRes.status != 200 || len(headRes.body) != 0 || headRes.header.Get("Content-Length") != res.header.Get("Content-Length") ||
				headRes.header.Get("Content-Encoding") != res.header.Get("Content-Encoding") {
				t.Errorf("HEAD: %d, %d bytes, headers %v; want GET's headers without the body", headRes.status, len(headRes.body), headRes.header)
			}
		})
	}
	t.Run("cache only the versioned URL", func(t *testing.T) {
		for _, tc := range []struct{ target, want string }{
			{"/api/redoc.js?v=" + version, "public, max-age=31536000, immutable"},
			{"/api/redoc.js", "no-store"},
			{"/api/redoc.js?v=0.0.1", "no-store"}, // a page of another version: other bytes
		} {
			if got := f.get(t, tc.target).header.Get("Cache-Control"); got != tc.want {
				t.Errorf("GET %s: Cache-Control %q, want %q", tc.target, got, tc.want)
			}
		}
	})
}

// /openapi.json is where FastAPI serves the document; the UI's fallback must not catch it.
func TestServer_OpenAPIAtRoot(t *testing.T) {
	f := newFixture(t, fixtureConfig{noRun: true})
	api := f.get(t, "/api/openapi.json")
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		res := head(t, f, "/openapi.json")
		if method == http.MethodGet {
			res = f.do(t, method, "/openapi.json", f.as(""))
		}
		if res.status != 200 || res.header.Get("Content-Type") != "application/json" || res.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("%s /openapi.json: %d, Content-Type %q, Cache-Control %q", method, res.status,
				res.header.Get("Content-Type"), res.header.Get("Cache-Control"))
		}
		if res.header.Get("Content-Length") != api.header.Get("Content-Length") {
			t.Errorf("%s /openapi.json: Content-Length %s, /api/openapi.json's %s", method, res.header.Get("Content-Length"), api.header.Get("Content-Length"))
		}
		if method == http.MethodGet && !bytes.Equal(res.body, api.body) {
			t.Errorf("GET /openapi.json: %d bytes, not those of /api/openapi.json (%d)", len(res.body), len(api.body))
		}
	}
	var doc struct {
		Info struct{ Title, Version string }
	}
	if err := json.Unmarshal(api.body, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Info.Title != "MASKSERVICE C20 1001 Backend API" || doc.Info.Version == "" {
		t.Errorf("info %+v, want the title MASKSERVICE C20 1001 Backend API and a version", doc.Info)
	}
}

// The reference's routes go through the same gates as /api/docs: the host allow-list, the
// guard (public), the JSON 405 of a known path.
func TestServer_RedocRoutesLikeDocs(t *testing.T) {
	f := newFixture(t, fixtureConfig{noRun: true})
	for _, path := range []string{"/api/docs", "/api/redoc", "/api/redoc.js", "/openapi.json"} {
		t.Run(path, func(t *testing.T) {
			if res := f.do(t, http.MethodGet, path, f.as("")); res.status != 200 {
				t.Errorf("GET without a token: %d, want 200 (public)", res.status)
			}
			res := f.do(t, http.MethodPost, path, f.as(""))
			wantError(t, res, http.StatusMethodNotAllowed, maskservice.EINVALID, "not allowed")
			if allow := res.header.Get("Allow"); allow != "GET, HEAD" {
				t.Errorf("Allow %q, want GET, HEAD", allow)
			}
			// Not through f.do: the spec documents no 403 for a public route, and a refused
			// host reaches no route.
			req := httptest.NewRequest(http.MethodGet, path, nil)
			req.Host = "rebind.evil.example"
			rec := httptest.NewRecorder()
			f.handler.ServeHTTP(rec, req)
			wantError(t, response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()},
				http.StatusForbidden, maskservice.EFORBIDDEN, "not a name of this device")
		})
	}
}
