package web_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

// TestServer_RoutesMatchSpec fails when a registered route is missing from the spec, or the
// spec documents an operation that no route serves. The answers themselves are checked
// against the spec by every request the other tests make (fixture.do).
func TestServer_RoutesMatchSpec(t *testing.T) {
	f := newFixture(t, fixtureConfig{noRun: true})
	routes := map[string]bool{}
	for _, rt := range f.srv.Routes() {
		key := rt.Method + " " + rt.Pattern
		if routes[key] {
			t.Errorf("route %s is registered twice", key)
		}
		routes[key] = true
		item := f.spec.doc.Paths.Value(rt.Pattern)
		if item == nil || item.GetOperation(rt.Method) == nil {
			t.Errorf("route %s is not in openapi.json", key)
			continue
		}
		if op := item.GetOperation(rt.Method); op.Summary != rt.Summary {
			t.Errorf("route %s: summary %q in the table, %q in the spec", key, rt.Summary, op.Summary)
		}
		if rt.Handler == nil {
			t.Errorf("route %s has no handler", key)
		}
	}
	var documented []string
	for path, item := range f.spec.doc.Paths.Map() {
		for method, op := range item.Operations() {
			key := method + " " + path
			documented = append(documented, key)
			if !routes[key] {
				t.Errorf("openapi.json documents %s, which no route serves", key)
			}
			if len(op.Responses.Map()) == 0 {
				t.Errorf("%s documents no responses", key)
			}
			// Every route can fail unexpectedly; the recovered panic answers 500.
			if op.Responses.Status(http.StatusInternalServerError) == nil {
				t.Errorf("%s does not document its 500 answer", key)
			}
		}
	}
	if len(documented) != len(routes) {
		slices.Sort(documented)
		t.Errorf("%d operations documented, %d routes:\n%s", len(documented), len(routes), strings.Join(documented, "\n"))
	}
	if servers := f.spec.doc.Servers; len(servers) != 1 || servers[0].URL != "/" {
		t.Errorf("servers %v, want the one relative server /", servers)
	}
}
