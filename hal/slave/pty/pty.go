//go:build linux

// Package pty opens Linux pseudo-terminal pairs: a serial line in software, for the
// transducer simulator and the tests. The master end is an *os.File the simulator's slave
// serves on; the other end, /dev/pts/N, is opened by the daemon exactly like /dev/ttyUSB0.
//
// A pty does not enforce the baud rate: bytes arrive as fast as they are written, in chunks
// of any size.
package pty

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// PTY is one pseudo-terminal pair.
type PTY struct {
	// Master is the controlling end: what is written to it arrives at Name, and what is
	// written at Name is read from it.
	Master *os.File
	// Name is the path of the terminal end, such as /dev/pts/3.
	Name string

	// hold keeps the terminal end open ourselves, so that reads on Master do not fail with
	// EIO while no client has it open (between two daemon connections).
	hold *os.File
	link string
}

// Open creates a pseudo-terminal pair in raw mode (no echo, no line editing, 8-bit clean).
func Open() (*PTY, error) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open pty master: %w", err)
	}
	var n int
	err = control(m, func(fd int) error {
		if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
			return fmt.Errorf("unlock pty: %w", err)
		}
		var err error
		if n, err = unix.IoctlGetInt(fd, unix.TIOCGPTN); err != nil {
			return fmt.Errorf("get pty number: %w", err)
		}
		// On Linux the master's termios calls act on the terminal end.
		return makeRaw(fd)
	})
	if err != nil {
		m.Close()
		return nil, err
	}
	name := fmt.Sprintf("/dev/pts/%d", n)
	hold, err := os.OpenFile(name, os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	return &PTY{Master: m, Name: name, hold: hold}, nil
}

// control runs f with the file's descriptor without switching the file to blocking mode (as
// File.Fd would), so that Close still interrupts a pending Read.
func control(f *os.File, fn func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// makeRaw sets the terminal to raw mode, as cfmakeraw(3) does.
func makeRaw(fd int) error {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return fmt.Errorf("get termios: %w", err)
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, t); err != nil {
		return fmt.Errorf("set raw mode: %w", err)
	}
	return nil
}

// Link makes path a symbolic link to the terminal end, replacing an older link atomically
// (a daemon configured with device = path then finds the new pty when it reopens).
func (p *PTY) Link(path string) error {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	_ = os.Remove(tmp)
	if err := os.Symlink(p.Name, tmp); err != nil {
		return fmt.Errorf("link %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("link %s: %w", path, err)
	}
	p.link = path
	return nil
}

// Close closes both ends; a client holding the terminal end open sees a hangup (its reads
// fail). A link made by Link is removed if it still points to this pty.
func (p *PTY) Close() error {
	if p.link != "" {
		if target, err := os.Readlink(p.link); err == nil && target == p.Name {
			_ = os.Remove(p.link)
		}
	}
	return errors.Join(p.hold.Close(), p.Master.Close())
}
