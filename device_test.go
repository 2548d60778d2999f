package maskservice_test

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"mask.services/maskservice"
)

func TestRaiseDeviceFault(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	a, err := maskservice.RaiseDeviceFault(ctx, db, maskservice.DeviceFault{Part: maskservice.DevicePartStorage, Message: "replaced", At: t0})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := db.Alert(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.ID == 0 || stored.Type != maskservice.AlertDeviceFault || stored.State != maskservice.AlertActiveUnack ||
		stored.SensorID != "storage" || stored.Message != "replaced" || !stored.OpenedAt.Equal(t0) ||
		!math.IsNaN(stored.Value) || !math.IsNaN(stored.Threshold) {
		t.Errorf("stored %+v", stored)
	}
	for _, tc := range []struct {
		name string
		f    maskservice.DeviceFault
	}{
		{"no part", maskservice.DeviceFault{Message: "m", At: t0}},
		{"no message", maskservice.DeviceFault{Part: "storage", At: t0}},
		{"no time", maskservice.DeviceFault{Part: "storage", Message: "m"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := maskservice.RaiseDeviceFault(ctx, db, tc.f); maskservice.ErrorCode(err) != maskservice.EINVALID {
				t.Errorf("error %v, want EINVALID", err)
			}
		})
	}
}

// A device fault is latched: the engine loads it without clearing it (no sensor is called
// so), no reading changes it, not even a sensor's of the same name, and an acknowledgement
// closes it at once.
func TestAlarm_DeviceFaultLatched(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	fault, err := maskservice.RaiseDeviceFault(ctx, db, maskservice.DeviceFault{Part: "storage", Message: "replaced", At: t0})
	if err != nil {
		t.Fatal(err)
	}
	storage := alarmP1
	storage.ID, storage.Name = "storage", "Storage tank"
	e, err := maskservice.NewAlarmEngine(ctx, db, live(t, alarmP1, storage), maskservice.AlarmOptions{Now: func() time.Time { return t0.Add(time.Minute) }})
	if err != nil {
		t.Fatal(err)
	}
	for i, rd := range []maskservice.Reading{
		{SensorID: "storage", Value: 8.5, Status: maskservice.StatusWarning, Quality: maskservice.QualityGood},
		{SensorID: "storage", Value: 5, Status: maskservice.StatusNormal, Quality: maskservice.QualityGood},
	} {
		rd.Time = t0.Add(time.Duration(i+1) * time.Second)
		changed, err := e.Process(ctx, &maskservice.Round{Readings: []maskservice.Reading{rd}})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range changed {
			if a.ID == fault.ID {
				t.Errorf("reading %d changed the device fault: %+v", i, a)
			}
		}
	}
	if a, _ := db.Alert(ctx, fault.ID); a.State != maskservice.AlertActiveUnack {
		t.Fatalf("before the acknowledgement %+v", a)
	}
	acked, err := e.AckAll(ctx, maskservice.Actor{Username: "operator1"}, "seen")
	if err != nil {
		t.Fatal(err)
	}
	var got maskservice.Alert
	for _, a := range acked {
		if a.ID == fault.ID {
			got = a
		}
	}
	if got.State != maskservice.AlertClosed || got.AckedBy != "operator1" || !got.ClearedAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("acknowledged %+v, want closed by operator1", got)
	}
	if _, err := e.Ack(ctx, maskservice.Actor{Username: "operator1"}, fault.ID, ""); maskservice.ErrorCode(err) != maskservice.ECONFLICT {
		t.Errorf("second acknowledgement: %v, want ECONFLICT", err)
	}
}

func TestStorageRecovery_Fault(t *testing.T) {
	base := maskservice.StorageRecovery{Damaged: "/var/lib/maskservice/maskservice.db", Problem: "damaged: page 5: header says page 9",
		KeptAs: "/var/lib/maskservice/maskservice.db.damaged-20261127T000000Z", At: t0}
	withBackup := base
	withBackup.BackupDir, withBackup.Backup = "/backups", "/backups/maskservice-daily-2026-11-26.db"
	withBackup.BackupTime = time.Date(2026, 11, 26, 3, 0, 0, 0, time.FixedZone("CET", 3600))
	withBackup.Skipped = []string{"maskservice-daily-2026-11-27.db: damaged: cut short"}
	noneVerified := base
	noneVerified.BackupDir = "/backups"
	for _, tc := range []struct {
		name string
		r    maskservice.StorageRecovery
		want []string
	}{
		{"a backup", withBackup, []string{"/var/lib/maskservice/maskservice.db was damaged (damaged: page 5: header says page 9)",
			"kept as /var/lib/maskservice/maskservice.db.damaged-20261127T000000Z",
			"Started on the backup /backups/maskservice-daily-2026-11-26.db of 2026-11-26 02:00:00 UTC",
			"everything recorded after it", "sessions of the backup were ended",
			"Backups passed over: maskservice-daily-2026-11-27.db: damaged: cut short."}},
		{"no backup passed", noneVerified, []string{"Started on an empty database, since no backup in /backups passed verification",
			"maskserviced user add"}},
		{"backups off", base, []string{"Started on an empty database, since scheduled backups are off (storage.backup_dir)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.r.Fault()
			if f.Part != maskservice.DevicePartStorage || !f.At.Equal(t0) || f.Validate() != nil {
				t.Errorf("fault %+v", f)
			}
			for _, w := range tc.want {
				if !strings.Contains(f.Message, w) {
					t.Errorf("message %q lacks %q", f.Message, w)
				}
			}
		})
	}
}
