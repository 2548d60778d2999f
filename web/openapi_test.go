package web_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"mask.services/maskservice/web"
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
		op := item.GetOperation(rt.Method)
		if op.Summary != rt.Summary {
			t.Errorf("route %s: summary %q in the table, %q in the spec", key, rt.Summary, op.Summary)
		}
		if rt.Handler == nil {
			t.Errorf("route %s has no handler", key)
		}
		checkSecurity(t, key, rt, op)
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
	// Without a security requirement of its own, an operation needs what the document asks.
	var global []string
	for _, req := range f.spec.doc.Security {
		for name := range req {
			global = append(global, name)
		}
	}
	if slices.Sort(global); !slices.Equal(global, []string{"bearerAuth", "cookieAuth"}) {
		t.Errorf("global security %v, want bearerAuth or cookieAuth", global)
	}
	schemes := f.spec.doc.Components.SecuritySchemes
	if b := schemes["bearerAuth"]; b == nil || b.Value.Type != "http" || b.Value.Scheme != "bearer" || b.Value.BearerFormat != "JWT" {
		t.Errorf("bearerAuth scheme %+v", b)
	}
	if c := schemes["cookieAuth"]; c == nil || c.Value.Type != "apiKey" || c.Value.In != "cookie" || c.Value.Name != "ms_access" {
		t.Errorf("cookieAuth scheme %+v", c)
	}
}

// checkSecurity checks that the spec tells of a route what the route table says it needs:
// x-permission names its Access, x-panel-view marks the panel's live view, a public route asks for no credentials, and a protected
// one documents its 401 and (where it can happen) its 403.
func checkSecurity(t *testing.T, key string, rt web.Route, op *openapi3.Operation) {
	t.Helper()
	if got, _ := op.Extensions["x-permission"].(string); got != rt.Access {
		t.Errorf("%s: x-permission %q in the spec, access %q in the table", key, got, rt.Access)
	}
	if got, _ := op.Extensions["x-panel-view"].(bool); got != rt.PanelView {
		t.Errorf("%s: x-panel-view %v in the spec, PanelView %v in the table", key, got, rt.PanelView)
	}
	public := rt.Access == web.AccessPublic
	if empty := op.Security != nil && len(*op.Security) == 0; empty != public {
		t.Errorf("%s: security [] is %v in the spec, want it exactly on public routes", key, empty)
	}
	if rt.Pattern == "/api/ws/sensors" {
		// The WebSocket tells its refusals with close codes after the upgrade.
		if op.Responses.Status(http.StatusUnauthorized) != nil || !strings.Contains(op.Description, "4001") || !strings.Contains(op.Description, "4003") {
			t.Errorf("%s: want no 401, and the close codes 4001 and 4003 in the description", key)
		}
		return
	}
	if public {
		return
	}
	if op.Responses.Status(http.StatusUnauthorized) == nil {
		t.Errorf("%s: protected, but its 401 is not documented", key)
	}
	// 403: the permission is missing, or a cookie request that changes something lacks the
	// CSRF token. A GET of a route any signed-in user may use can have neither.
	if (rt.Access != web.AccessSignedIn || rt.Method != http.MethodGet) && op.Responses.Status(http.StatusForbidden) == nil {
		t.Errorf("%s: needs %s, but its 403 is not documented", key, rt.Access)
	}
}
