package maskservice

import (
	"fmt"
	"strings"
	"time"
)

// StorageRecovery is what the store did at start on finding its database file damaged (or
// not a database at all): it kept the file aside, under another name in the same directory,
// and started on the newest backup that passed verification, or on an empty database when
// none did. Implementation: store/bolt.OpenRecovering.
type StorageRecovery struct {
	Damaged    string    // the damaged database file
	Problem    string    // what the check found wrong with it
	KeptAs     string    // the name the damaged file is kept under; it is never deleted
	Backup     string    // the backup started on; "" for an empty database
	BackupTime time.Time // when that backup was written: everything after it is missing
	BackupDir  string    // where backups were looked for; "" when scheduled backups are off
	Skipped    []string  // the backups passed over, newest first, each with why
	At         time.Time // when the recovery ran
}

// recoveryTimeLayout spells the backup's time in the alert: UTC, to the second.
const recoveryTimeLayout = "2006-01-02 15:04:05 UTC"

// Fault returns the device fault that tells the operator what happened: which file was
// damaged and where it is kept, what the device started on, and what is therefore missing.
func (r StorageRecovery) Fault() DeviceFault {
	var b strings.Builder
	fmt.Fprintf(&b, "The database %s was damaged (%s) and is kept as %s. ", r.Damaged, r.Problem, r.KeptAs)
	switch {
	case r.Backup != "":
		fmt.Fprintf(&b, "Started on the backup %s of %s: everything recorded after it (readings, alerts, "+
			"acknowledgements, users, the audit trail) is missing from the database and remains only in the kept file. "+
			"The sessions of the backup were ended: everyone signs in again.",
			r.Backup, r.BackupTime.UTC().Format(recoveryTimeLayout))
	case r.BackupDir != "":
		fmt.Fprintf(&b, "Started on an empty database, since no backup in %s passed verification: the history, "+
			"alerts, users and audit trail are missing and remain only in the kept file. "+
			"Create a SUPERUSER with 'maskserviced user add' (daemon stopped).", r.BackupDir)
	default:
		b.WriteString("Started on an empty database, since scheduled backups are off (storage.backup_dir): the " +
			"history, alerts, users and audit trail are missing and remain only in the kept file. " +
			"Create a SUPERUSER with 'maskserviced user add' (daemon stopped).")
	}
	if len(r.Skipped) > 0 {
		fmt.Fprintf(&b, " Backups passed over: %s.", strings.Join(r.Skipped, "; "))
	}
	return DeviceFault{Part: DevicePartStorage, Message: b.String(), At: r.At}
}
