package bolt_test

import (
	"bytes"
	"path/filepath"
	"slices"
	"testing"

	bbolt "go.etcd.io/bbolt"

	"mask.services/maskservice"
	"mask.services/maskservice/store/bolt"
)

// TestUsers_PINHash checks that a PIN hash round-trips and is cleared, and that a record
// written before PINs existed (no pin_hash) still loads, as a user without a PIN.
func TestUsers_PINHash(t *testing.T) {
	db, dir := MustOpenDB(t)
	mustCreateUsers(t, db, newUser("operator1", maskservice.RoleOperator))
	pin := []byte("$2a$04$pinhash")
	if _, err := db.UpdateUser(ctx, "operator1", func(u *maskservice.User) error { u.PINHash = pin; return nil }); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	rawUpdate(t, filepath.Join(dir, bolt.FileName), func(tx *bbolt.Tx) error {
		// As the daemon of before PINs wrote it.
		return tx.Bucket([]byte("users")).Put([]byte("anna"), []byte(
			`{"v":1,"username":"anna","password_hash":"JDJhJDA0JGhhc2g=","role":"ADMIN","active":true,"created":"2026-11-27T08:00:00Z","lockouts":[{},{}]}`))
	})
	db = mustOpenAt(t, dir)
	u, err := db.User(ctx, "operator1")
	if err != nil || !bytes.Equal(u.PINHash, pin) {
		t.Fatalf("after reopen: PINHash %q, %v; want %q", u.PINHash, err, pin)
	}
	old, err := db.User(ctx, "anna")
	if err != nil || old.PINHash != nil || old.Role != maskservice.RoleAdmin || string(old.PasswordHash) != "$2a$04$hash" {
		t.Fatalf("old record: %+v, %v; want ADMIN anna without a PIN", old, err)
	}
	if u, err = db.UpdateUser(ctx, "operator1", func(u *maskservice.User) error { u.PINHash = nil; return nil }); err != nil || u.PINHash != nil {
		t.Fatalf("clear: %+v, %v", u, err)
	}
}

// TestRecentPanelUsers checks that the list is empty at first and survives a reopen.
func TestRecentPanelUsers(t *testing.T) {
	db, dir := MustOpenDB(t)
	if names, err := db.RecentPanelUsers(ctx); err != nil || names == nil || len(names) != 0 {
		t.Fatalf("fresh file: %#v, %v; want an empty, non-nil list", names, err)
	}
	want := []string{"operator1", "admin1"}
	if err := db.SetRecentPanelUsers(ctx, want); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	db = mustOpenAt(t, dir)
	if names, err := db.RecentPanelUsers(ctx); err != nil || !slices.Equal(names, want) {
		t.Errorf("after reopen: %v, %v; want %v", names, err, want)
	}
}
