package config_test

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"

	"mask.services/maskservice/cmd/internal/config"
)

// TestOpenBuses opens a sim bus, a modbus-tcp bus whose gateway is not there, and a bus with
// no sensors: the sim sensors read, the tcp bus keeps diagnostics (and fails its sensors
// without failing the round), and the empty bus is not opened.
func TestOpenBuses(t *testing.T) {
	c, err := config.Parse("open.toml", []byte(`
[[bus]]
name = "sim"
driver = "sim"
sim_seed = 1
[[bus]]
name = "gw"
driver = "modbus-tcp"
device = "127.0.0.1:1"
timeout = "50ms"
retries = 0
[[bus]]
name = "spare"
driver = "sim"
[[sensor]]
id = "P1"
bus = "sim"
[[sensor]]
id = "P2"
bus = "gw"
slave = 1
[[sensor]]
id = "P3"
bus = "sim"
`))
	if err != nil {
		t.Fatal(err)
	}
	buses, err := config.OpenBuses(c, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer buses.Close()
	got, err := buses.Read(context.Background(), []string{"P1", "P2", "P3"})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, false, true} {
		if ok := got[i].Err == nil; ok != want {
			t.Errorf("%s: Err = %v, want read=%v", got[i].SensorID, got[i].Err, want)
		}
	}
	var names []string
	for _, d := range buses.BusDiagnostics() {
		names = append(names, d.Bus)
	}
	if !slices.Equal(names, []string{"gw"}) {
		t.Errorf("diagnostics of %v, want only the modbus bus", names)
	}
}

// TestDrivers lists the drivers a config may name, the one table's keys.
func TestDrivers(t *testing.T) {
	if got, want := config.Drivers(), []string{"modbus-rtu", "modbus-tcp", "sim"}; !slices.Equal(got, want) {
		t.Errorf("Drivers() = %v, want %v", got, want)
	}
}
