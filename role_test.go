package maskservice_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"mask.services/maskservice"
)

// TestRole_Table checks the permission table of DESIGN.md row by row: colour, idle timeout
// and exactly the permissions each role has, implied ones included.
func TestRole_Table(t *testing.T) {
	all := maskservice.AllPermissions()
	tests := []struct {
		role  maskservice.Role
		color string
		idle  time.Duration
		can   []maskservice.Permission
	}{
		{maskservice.RoleOperator, "#27ae60", 30 * time.Minute,
			[]maskservice.Permission{"view_sensors", "view_alerts", "ack_alerts"}},
		{maskservice.RoleAdmin, "#f39c12", 60 * time.Minute,
			[]maskservice.Permission{"view_sensors", "view_alerts", "ack_alerts", "manage_tests", "manage_reports", "manage_users"}},
		{maskservice.RoleSuperuser, "#e74c3c", 120 * time.Minute, all},
		{maskservice.RoleServiceTech, "#3498db", 240 * time.Minute,
			[]maskservice.Permission{"view_sensors", "view_alerts", "ack_alerts", "service_mode", "calibration", "diagnostics"}},
	}
	if len(maskservice.Roles()) != len(tests) {
		t.Fatalf("%d roles in the table, want %d", len(maskservice.Roles()), len(tests))
	}
	for _, tt := range tests {
		t.Run(string(tt.role), func(t *testing.T) {
			info, ok := tt.role.Info()
			if !ok || !tt.role.Valid() {
				t.Fatalf("%s unknown", tt.role)
			}
			if info.Color != tt.color || info.IdleTimeout != tt.idle {
				t.Errorf("colour %s, idle %s; want %s, %s", info.Color, info.IdleTimeout, tt.color, tt.idle)
			}
			for _, p := range all {
				if got, want := tt.role.Can(p), slices.Contains(tt.can, p); got != want {
					t.Errorf("Can(%s) = %v, want %v", p, got, want)
				}
			}
			eff := tt.role.EffectivePermissions()
			if len(eff) != len(tt.can) {
				t.Errorf("EffectivePermissions = %v, want the %d of %v", eff, len(tt.can), tt.can)
			}
		})
	}
}

func TestRole_Unknown(t *testing.T) {
	for _, r := range []maskservice.Role{"", "operator", "ROOT", "SUPERUSER "} {
		if r.Valid() || r.Can(maskservice.PermViewSensors) || len(r.EffectivePermissions()) != 0 {
			t.Errorf("role %q is treated as valid", r)
		}
	}
}

// TestRoles_Copies checks that callers cannot change the table through what it returns.
func TestRoles_Copies(t *testing.T) {
	maskservice.Roles()[0].Permissions[0] = maskservice.PermFullSystemAccess
	info, _ := maskservice.RoleOperator.Info()
	info.Permissions[0] = maskservice.PermFullSystemAccess
	if maskservice.RoleOperator.Can(maskservice.PermConfigEdit) {
		t.Fatal("the permission table was changed through a returned slice")
	}
}

// TestRoleList checks that the list of roles error messages give names every role of the
// table, in its order.
func TestRoleList(t *testing.T) {
	if got, want := maskservice.RoleList(), "OPERATOR, ADMIN, SUPERUSER or SERWISANT"; got != want {
		t.Errorf("RoleList() = %q, want %q", got, want)
	}
	for _, r := range maskservice.Roles() {
		if !strings.Contains(maskservice.RoleList(), string(r.Role)) {
			t.Errorf("RoleList() lacks %s", r.Role)
		}
	}
	err := maskservice.ValidateRole("ROOT")
	if maskservice.ErrorField(err) != "role" || err.Error() != `role "ROOT": want `+maskservice.RoleList() {
		t.Errorf("ValidateRole(ROOT) = %v", err)
	}
}

// TestPanelViewer sees that the anonymous panel may view the sensors and the alerts and
// nothing else, acknowledging included, and that no role is the viewer by accident.
func TestPanelViewer(t *testing.T) {
	want := []maskservice.Permission{maskservice.PermViewSensors, maskservice.PermViewAlerts}
	if got := maskservice.PanelViewerPermissions(); !slices.Equal(got, want) {
		t.Fatalf("PanelViewerPermissions() = %v, want %v", got, want)
	}
	for _, p := range maskservice.AllPermissions() {
		if got := maskservice.PanelViewerCan(p); got != slices.Contains(want, p) {
			t.Errorf("PanelViewerCan(%s) = %v", p, got)
		}
	}
	maskservice.PanelViewerPermissions()[0] = maskservice.PermAckAlerts
	if maskservice.PanelViewerCan(maskservice.PermAckAlerts) {
		t.Error("changing the returned slice changed the viewer's permissions")
	}
}
