package maskservice

import (
	"slices"
	"strings"
	"time"
)

// Role is what a signed-in person is allowed to be. Every user holds exactly one role and
// signs in as it.
type Role string

// The four roles of the specification.
const (
	RoleOperator    Role = "OPERATOR"
	RoleAdmin       Role = "ADMIN"
	RoleSuperuser   Role = "SUPERUSER"
	RoleServiceTech Role = "SERWISANT" // the service technician
)

// Permission names one thing a role may do. Every API route needs exactly one.
type Permission string

// The permissions. PermFullSystemAccess implies every other permission.
const (
	PermViewSensors      Permission = "view_sensors"
	PermViewAlerts       Permission = "view_alerts"
	PermAckAlerts        Permission = "ack_alerts"
	PermManageTests      Permission = "manage_tests"
	PermManageReports    Permission = "manage_reports"
	PermManageUsers      Permission = "manage_users"
	PermServiceMode      Permission = "service_mode"
	PermCalibration      Permission = "calibration"
	PermDiagnostics      Permission = "diagnostics"
	PermConfigEdit       Permission = "config_edit"
	PermFullSystemAccess Permission = "full_system_access"
)

// RoleInfo is a role's row of the permission table.
type RoleInfo struct {
	Role        Role
	Color       string        // the role's colour in the UI, "#rrggbb"
	IdleTimeout time.Duration // a session of this role ends after this long without a request
	Permissions []Permission  // as the specification lists them (see Can for the implied ones)
}

// roleTable is the permission table of DESIGN.md, the one place it is written down. The
// specification gives each role its own permissions; viewing and acknowledging are added to
// every role because the live pressure screen is every user's home screen on the LCD.
var roleTable = [...]RoleInfo{
	{RoleOperator, "#27ae60", 30 * time.Minute,
		[]Permission{PermViewSensors, PermViewAlerts, PermAckAlerts}},
	{RoleAdmin, "#f39c12", 60 * time.Minute,
		[]Permission{PermViewSensors, PermViewAlerts, PermAckAlerts, PermManageTests, PermManageReports, PermManageUsers}},
	{RoleSuperuser, "#e74c3c", 120 * time.Minute,
		[]Permission{PermFullSystemAccess, PermConfigEdit}},
	{RoleServiceTech, "#3498db", 240 * time.Minute,
		[]Permission{PermViewSensors, PermViewAlerts, PermAckAlerts, PermServiceMode, PermCalibration, PermDiagnostics}},
}

// allPermissions lists every permission, in a stable order.
var allPermissions = [...]Permission{
	PermViewSensors, PermViewAlerts, PermAckAlerts, PermManageTests, PermManageReports,
	PermManageUsers, PermServiceMode, PermCalibration, PermDiagnostics, PermConfigEdit,
	PermFullSystemAccess,
}

// Roles returns the permission table, one row per role, in the specification's order.
func Roles() []RoleInfo {
	out := make([]RoleInfo, len(roleTable))
	for i, r := range roleTable {
		r.Permissions = slices.Clone(r.Permissions)
		out[i] = r
	}
	return out
}

// AllPermissions returns every permission.
func AllPermissions() []Permission { return slices.Clone(allPermissions[:]) }

// Info returns the role's row of the permission table; ok is false for an unknown role.
func (r Role) Info() (info RoleInfo, ok bool) {
	for _, row := range roleTable {
		if row.Role == r {
			row.Permissions = slices.Clone(row.Permissions)
			return row, true
		}
	}
	return RoleInfo{}, false
}

// Valid reports whether r is one of the four roles.
func (r Role) Valid() bool {
	_, ok := r.Info()
	return ok
}

// ValidateRole checks that r is one of the four roles; the error names them.
func ValidateRole(r Role) error {
	if !r.Valid() {
		return FieldErrorf("role", "role %q: want %s", truncate(string(r), 40), RoleList())
	}
	return nil
}

// Can reports whether the role has permission p, directly or through full_system_access.
func (r Role) Can(p Permission) bool {
	for _, row := range roleTable {
		if row.Role == r {
			return slices.Contains(row.Permissions, p) || slices.Contains(row.Permissions, PermFullSystemAccess)
		}
	}
	return false
}

// EffectivePermissions returns every permission the role has, implied ones included, in the
// order of AllPermissions. This is what a token carries and what the UI is told.
func (r Role) EffectivePermissions() []Permission {
	var out []Permission
	for _, p := range allPermissions {
		if r.Can(p) {
			out = append(out, p)
		}
	}
	return out
}

// RoleList returns the roles of the permission table as an error message names them:
// "OPERATOR, ADMIN, SUPERUSER or SERWISANT". Every message that lists the valid roles uses
// it, so that a new role appears in all of them.
func RoleList() string {
	var b strings.Builder
	for i, row := range roleTable {
		switch {
		case i == 0:
		case i == len(roleTable)-1:
			b.WriteString(" or ")
		default:
			b.WriteString(", ")
		}
		b.WriteString(string(row.Role))
	}
	return b.String()
}

// panelViewerPermissions are what the LCD's panel may do while nobody is signed in on it.
var panelViewerPermissions = [...]Permission{PermViewSensors, PermViewAlerts}

// PanelViewerPermissions returns what the anonymous panel viewer may do: the LCD, while
// nobody is signed in on it, shows the live values and the open alerts and nothing more; to
// acknowledge or do anything else someone signs in. The viewer is no role: no user holds it,
// no token carries it, and only the panel (never a client beyond loopback) is served as it,
// on the routes of its live view, when the configuration allows the live view at all.
func PanelViewerPermissions() []Permission { return slices.Clone(panelViewerPermissions[:]) }

// PanelViewerCan reports whether the anonymous panel viewer has permission p.
func PanelViewerCan(p Permission) bool { return slices.Contains(panelViewerPermissions[:], p) }
