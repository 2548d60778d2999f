// Package peer tells which local user holds the other end of a loopback TCP connection.
//
// A TCP socket carries no credentials, but on Linux the kernel lists every socket with its
// owner in /proc/net/tcp and /proc/net/tcp6: the client's end of an accepted loopback
// connection is the line whose local address is the connection's remote address and whose
// remote address is its local one. The daemon uses it to tell the kiosk browser of the LCD
// (its own user) from any other process on the device.
package peer

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// ErrNotFound is returned when no socket of the listing is the connection's other end: the
// client is not on this host (or not in this network namespace), or has gone.
var ErrNotFound = errors.New("the other end of the connection is not a socket of this host")

// tables are the kernel's socket listings, read in this order.
var tables = [...]string{"/proc/net/tcp", "/proc/net/tcp6"}

// UID returns the user id that owns the other end of c, a TCP connection between two
// sockets of this host. It reads the kernel's socket listings, so it costs a read of a few
// hundred bytes per open socket: call it when a decision needs it, not on every request.
func UID(c net.Conn) (uint32, error) {
	local, ok1 := c.LocalAddr().(*net.TCPAddr)
	remote, ok2 := c.RemoteAddr().(*net.TCPAddr)
	if !ok1 || !ok2 {
		return 0, fmt.Errorf("peer of %s: not a TCP connection", c.RemoteAddr())
	}
	return lookup(tables[:], remote.AddrPort(), local.AddrPort())
}

// lookup finds the socket whose own address is self and whose peer is other in the listings
// at paths, and returns its owner.
func lookup(paths []string, self, other netip.AddrPort) (uint32, error) {
	for _, path := range paths {
		f, err := os.Open(path)
		if errors.Is(err, os.ErrNotExist) {
			continue // a kernel without IPv6
		}
		if err != nil {
			return 0, fmt.Errorf("peer of %s: %w", self, err)
		}
		uid, err := scan(f, self, other)
		f.Close()
		if err == nil || !errors.Is(err, ErrNotFound) {
			return uid, err
		}
	}
	return 0, fmt.Errorf("peer of %s: %w", self, ErrNotFound)
}

// scan reads one listing: a header line, then per socket "sl local rem st queues tr
// retrnsmt uid ...", addresses as hex words in the kernel's byte order and ports in hex.
func scan(r io.Reader, self, other netip.AddrPort) (uint32, error) {
	sc := bufio.NewScanner(r)
	sc.Scan() // the header
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 8 {
			continue
		}
		l, err1 := parseAddr(f[1])
		rem, err2 := parseAddr(f[2])
		if err1 != nil || err2 != nil || !same(l, self) || !same(rem, other) {
			continue
		}
		uid, err := strconv.ParseUint(f[7], 10, 32)
		if err != nil {
			return 0, fmt.Errorf("socket listing: uid %q: %w", f[7], err)
		}
		return uint32(uid), nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("socket listing: %w", err)
	}
	return 0, ErrNotFound
}

// same compares two endpoints, an IPv4 address and its IPv4-mapped IPv6 form alike.
func same(a, b netip.AddrPort) bool {
	return a.Port() == b.Port() && a.Addr().Unmap() == b.Addr().Unmap()
}

// parseAddr decodes "0100007F:1F40" (IPv4) or 32 hex digits and a port (IPv6). The kernel
// prints each 32-bit word of the address as a number in the host's byte order.
func parseAddr(s string) (netip.AddrPort, error) {
	host, port, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("address %q: no port", s)
	}
	p, err := strconv.ParseUint(port, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("address %q: port: %w", s, err)
	}
	raw, err := hex.DecodeString(host)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}, fmt.Errorf("address %q: not 4 or 16 bytes of hex", s)
	}
	for i := 0; i < len(raw); i += 4 {
		binary.BigEndian.PutUint32(raw[i:], binary.NativeEndian.Uint32(raw[i:]))
	}
	addr, _ := netip.AddrFromSlice(raw)
	return netip.AddrPortFrom(addr, uint16(p)), nil
}
