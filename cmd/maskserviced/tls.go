package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// The hotspot listener's certificate and key, in the data directory.
const (
	tlsCertFile = "tls-cert.pem"
	tlsKeyFile  = "tls-key.pem"
)

// loadOrCreateCert returns the HTTPS certificate of the device from dir, creating it at the
// first start, or when the files cannot be loaded (then also saying why, for the log): a self-signed ECDSA P-256 certificate valid for 20 years, named after the
// device, for the listen address's IP when it has one. A technician checks it by its SHA-256
// fingerprint (returned, logged and shown in the device status), since no CA vouches for it.
//
// The key and the certificate are written 0600 through a temporary file, fsynced and renamed,
// key first: a power cut leaves either no certificate (made again at the next start) or a
// whole one.
func loadOrCreateCert(dir, deviceID, listen string, now time.Time) (tls.Certificate, string, string, error) {
	var replaced string // why the files were made anew, "" at the first start
	certPath, keyPath := filepath.Join(dir, tlsCertFile), filepath.Join(dir, tlsKeyFile)
	// As the signing key: a private key others can read is refused, not used.
	if fi, err := os.Stat(keyPath); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return tls.Certificate{}, "", "", fmt.Errorf("HTTPS key %s: mode %v lets others read it; chmod 600 it", keyPath, fi.Mode().Perm())
	}
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	switch {
	case err == nil:
		return cert, fingerprint(cert.Certificate[0]), "", nil
	case !errors.Is(err, fs.ErrNotExist):
		// A damaged or mismatched pair (a bad sector, one file replaced) must not keep the
		// daemon from starting: keep the old files for a look, and make a new pair.
		for _, p := range []string{certPath, keyPath} {
			_ = os.Rename(p, p+".bad")
		}
		replaced = fmt.Sprintf("the old certificate could not be loaded (%v); kept as %s.bad", err, certPath)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, "", "", fmt.Errorf("generate the HTTPS key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		return tls.Certificate{}, "", "", err
	}
	name := dnsName(deviceID)
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "maskserviced " + deviceID, Organization: []string{"MASKSERVICE C20 1001"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(20, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{name, name + ".local", "localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	if host, _, err := net.SplitHostPort(listen); err == nil {
		if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() && !ip.IsLoopback() {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, "", "", fmt.Errorf("create the HTTPS certificate: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return tls.Certificate{}, "", "", err
	}
	if err := writeFileAtomic(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})); err != nil {
		return tls.Certificate{}, "", "", err
	}
	if err := writeFileAtomic(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})); err != nil {
		return tls.Certificate{}, "", "", err
	}
	cert, err = tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return tls.Certificate{}, "", "", fmt.Errorf("load the new HTTPS certificate: %w", err)
	}
	return cert, fingerprint(der), replaced, nil
}

// freebind sets IP_FREEBIND on a listening socket, so that it can bind an address the host
// does not have yet.
func freebind(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_IP, syscall.IP_FREEBIND, 1)
	})
	if err != nil {
		return err
	}
	return serr
}

// fingerprint is the SHA-256 of a certificate, as browsers show it: AB:CD:…
func fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}

// dnsName turns a device id into a DNS label: letters, digits and hyphens.
func dnsName(id string) string {
	out := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return '-'
	}, id)
	if out = strings.Trim(out, "-"); out == "" {
		out = "maskservice"
	}
	return out
}

// writeFileAtomic writes data to path (0600) through path.tmp, fsynced, then renamed and the
// directory fsynced.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
