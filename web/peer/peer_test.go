package peer

import (
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
)

// The other end of a real loopback connection is this process's own socket.
func TestUID_Loopback(t *testing.T) {
	for _, network := range []struct{ name, addr string }{{"tcp4", "127.0.0.1:0"}, {"tcp6", "[::1]:0"}} {
		t.Run(network.name, func(t *testing.T) {
			ln, err := net.Listen(network.name, network.addr)
			if err != nil {
				t.Fatalf("listen: %v (the test needs a loopback %s address)", err, network.name)
			}
			defer ln.Close()
			client, err := net.Dial(network.name, ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			server, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer server.Close()
			uid, err := UID(server)
			if err != nil {
				t.Fatal(err)
			}
			if want := uint32(os.Getuid()); uid != want {
				t.Fatalf("UID = %d, want %d", uid, want)
			}
			// Closed at both ends, the socket leaves the listing (or lingers in TIME_WAIT
			// with uid 0, which is not a live peer either): nobody's answer is ours.
		})
	}
}

func TestScan(t *testing.T) {
	const listing = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1179 1 0 100 0 0 10 0
   1: 0100007F:D431 0100007F:1F40 01 00000000:00000000 00:00000000 00000000  1001        0 6438 1 0 100 0 0 10 0
   2: 0100007F:1F40 0100007F:D431 01 00000000:00000000 00:00000000 00000000   106        0 6439 1 0 100 0 0 10 0
   3: garbage
`
	self := netip.MustParseAddrPort("127.0.0.1:54321")
	server := netip.MustParseAddrPort("127.0.0.1:8000")
	// The listing is in little-endian byte order, as on every target (amd64, arm64, armv7).
	for _, tc := range []struct {
		name        string
		self, other netip.AddrPort
		uid         uint32
		found       bool
	}{
		{"the client's end", self, server, 1001, true},
		{"the server's end", server, self, 106, true},
		{"another port", netip.MustParseAddrPort("127.0.0.1:54322"), server, 0, false},
		{"mapped form of the same address", netip.MustParseAddrPort("[::ffff:127.0.0.1]:54321"), server, 1001, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			uid, err := scan(strings.NewReader(listing), tc.self, tc.other)
			if tc.found != (err == nil) || uid != tc.uid {
				t.Fatalf("scan = %d, %v; want %d, found %v", uid, err, tc.uid, tc.found)
			}
		})
	}
}

func TestParseAddr(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"0100007F:1F40", "127.0.0.1:8000"},
		{"00000000000000000000000001000000:1111", "[::1]:4369"},
		{"0000000000000000FFFF00000100007F:D431", "[::ffff:127.0.0.1]:54321"},
	} {
		got, err := parseAddr(tc.in)
		if err != nil || got.String() != tc.want {
			t.Errorf("parseAddr(%q) = %v, %v; want %s", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "0100007F", "0100007F:", "0100007F:XYZ", "01007F:1F40", "zz00007F:1F40"} {
		if _, err := parseAddr(bad); err == nil {
			t.Errorf("parseAddr(%q) = nil error", bad)
		}
	}
}
