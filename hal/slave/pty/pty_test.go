//go:build linux

package pty_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"mask.services/maskservice/hal/slave/pty"
)

// Bytes cross both ways unchanged (raw mode: no echo, no CR/LF translation), and closing the
// pty hangs up the terminal end: the client's reads end and its writes fail.
func TestPTY(t *testing.T) {
	p, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	client, err := os.OpenFile(p.Name, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	binary := []byte{0x01, 0x03, 0x0A, 0x0D, 0x00, 0xFF, 0x11, 0x13, 0x7F}
	read := func(f *os.File, n int) []byte {
		t.Helper()
		buf := make([]byte, 0, n)
		tmp := make([]byte, n)
		f.SetReadDeadline(time.Now().Add(time.Second))
		for len(buf) < n {
			k, err := f.Read(tmp[:n-len(buf)])
			buf = append(buf, tmp[:k]...)
			if err != nil {
				t.Fatalf("read: %v after % X", err, buf)
			}
		}
		return buf
	}
	if _, err := client.Write(binary); err != nil {
		t.Fatal(err)
	}
	if got := read(p.Master, len(binary)); !bytes.Equal(got, binary) {
		t.Errorf("master got % X, want % X", got, binary)
	}
	if _, err := p.Master.Write(binary); err != nil {
		t.Fatal(err)
	}
	if got := read(client, len(binary)); !bytes.Equal(got, binary) {
		t.Errorf("client got % X, want % X", got, binary)
	}
	// No echo: nothing came back to the master.
	p.Master.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, err := p.Master.Read(make([]byte, 16)); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("echo: %d bytes, %v", n, err)
	}

	link := filepath.Join(t.TempDir(), "ttyV0")
	if err := os.Symlink("/dev/null", link); err != nil {
		t.Fatal(err)
	}
	if err := p.Link(link); err != nil {
		t.Fatal(err)
	}
	if target, err := os.Readlink(link); err != nil || target != p.Name {
		t.Errorf("link -> %q, %v; want %s", target, err, p.Name)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(link); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("link still there after Close: %v", err)
	}
	client.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := client.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("client read after hangup: %v, want EOF or EIO at once", err)
	} else if !errors.Is(err, io.EOF) {
		t.Logf("client read after hangup: %v", err)
	}
	if _, err := client.Write([]byte{1}); err == nil {
		t.Error("client write after hangup succeeded")
	}
}
