package modbus_test

import (
	"errors"
	"io"
	"log"
	"math"
	"net"
	"testing"
	"time"

	mb "github.com/simonvetter/modbus"

	"mask.services/maskservice/hal"
	"mask.services/maskservice/hal/modbus"
)

// tcpHandler serves the test image through simonvetter/modbus's TCP server.
type tcpHandler struct{ im *image }

func (h tcpHandler) HandleCoils(*mb.CoilsRequest) ([]bool, error) { return nil, mb.ErrIllegalFunction }
func (h tcpHandler) HandleDiscreteInputs(*mb.DiscreteInputsRequest) ([]bool, error) {
	return nil, mb.ErrIllegalFunction
}
func (h tcpHandler) HandleHoldingRegisters(r *mb.HoldingRegistersRequest) ([]uint16, error) {
	return h.read(r.UnitId, hal.Holding, r.Addr, r.Quantity)
}
func (h tcpHandler) HandleInputRegisters(r *mb.InputRegistersRequest) ([]uint16, error) {
	return h.read(r.UnitId, hal.Input, r.Addr, r.Quantity)
}

func (h tcpHandler) read(unit uint8, kind hal.RegisterKind, addr, qty uint16) ([]uint16, error) {
	regs, ex, served := h.im.ReadRegisters(unit, kind, addr, qty)
	switch {
	case !served:
		return nil, mb.ErrGWTargetFailedToRespond
	case ex == hal.ExIllegalAddress:
		return nil, mb.ErrIllegalDataAddress
	}
	return regs, nil
}

// The modbus-tcp driver (a gateway on the bench) reads the same register maps, reports a
// gateway's exception, and reconnects when the gateway comes back.
func TestBus_TCP(t *testing.T) {
	im := newImage()
	reg := hal.Register{Slave: 3, Kind: hal.Input, Address: 5, Type: hal.Float32, Order: hal.BADC, Scale: 1}
	im.put(reg, 6.25)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	start := func() *mb.ModbusServer {
		srv, err := mb.NewServer(&mb.ServerConfiguration{URL: "tcp://" + addr, MaxClients: 4, Timeout: time.Minute,
			Logger: log.New(io.Discard, "", 0)}, tcpHandler{im})
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		return srv
	}
	srv := start()
	bus, err := modbus.Open(modbus.Config{Name: "bench", Driver: "modbus-tcp", Device: addr, Timeout: 200 * time.Millisecond,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		Sensors: []modbus.Sensor{{ID: "P2", Register: reg}, {ID: "X", Register: hal.Register{Slave: 4, Type: hal.Uint16, Scale: 1}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close()
	s := read(t, bus, "P2", "X")
	if s[0].Err != nil || math.Abs(s[0].Value-6.25) > 1e-6 {
		t.Errorf("P2 over TCP: %+v", s[0])
	}
	var ex *hal.ExceptionError
	if !errors.As(s[1].Err, &ex) || ex.Code != hal.ExGatewayNoResponse {
		t.Errorf("absent unit behind the gateway: %v, want exception 0B", s[1].Err)
	}

	srv.Stop()
	waitRead := func(what string, ok func(error) bool) {
		t.Helper()
		deadline := time.Now().Add(3 * time.Second)
		for time.Now().Before(deadline) {
			if err := read(t, bus, "P2")[0].Err; ok(err) {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("timed out waiting for %s", what)
	}
	waitRead("the gateway gone", func(err error) bool { return errors.Is(err, hal.ErrDisconnected) })
	srv = start()
	defer srv.Stop()
	waitRead("the gateway back", func(err error) bool { return err == nil })
	if d := bus.BusDiagnostics()[0]; d.Reconnects != 1 {
		t.Errorf("%d reconnects, want 1", d.Reconnects)
	}
}
