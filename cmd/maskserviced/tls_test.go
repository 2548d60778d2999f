package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mask.services/maskservice/cmd/internal/config"
)

// The HTTPS listener serves with the certificate made at the first start, keeps it across
// restarts (same fingerprint), marks the sign-in cookies Secure, and the key file is 0600.
func TestMain_HTTPS(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	text := "[http]\ntls_listen = \"127.0.0.1:0\"\n" + fastConfig("")
	start := func() *Main {
		m := NewMain()
		m.DataDir, m.Listen, m.Stderr, m.Demo, m.BcryptCost = data, "127.0.0.1:0", io.Discard, true, 4
		c, err := config.Parse("test.toml", []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		m.Config = c
		if err := m.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		return m
	}
	m := start()
	fp := m.TLSFingerprint
	if len(fp) != 95 || m.TLSAddr() == nil {
		t.Fatalf("fingerprint %q, TLS address %v", fp, m.TLSAddr())
	}
	pemBytes, err := os.ReadFile(filepath.Join(data, tlsCertFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(data, tlsKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}}
	resp, err := client.Get("https://" + m.TLSAddr().String() + "/healthz")
	if err != nil {
		t.Fatalf("https with the device's certificate: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/healthz over https: %s", resp.Status)
	}
	resp, err = client.Post("https://"+m.TLSAddr().String()+"/api/auth/login", "application/json",
		strings.NewReader(`{"username":"operator1","password":"password123","role":"OPERATOR"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if !c.Secure {
			t.Errorf("cookie %s over https is not Secure", c.Name)
		}
	}
	if len(resp.Cookies()) == 0 {
		t.Error("no cookies from a sign-in over https")
	}
	var st struct {
		TLSFingerprint string `json:"tls_fingerprint"`
	}
	getJSON(t, baseURL(m)+"/api/device/status", signIn(t, m.Addr().String()), &st)
	if st.TLSFingerprint != fp {
		t.Errorf("device status shows fingerprint %q, want %q", st.TLSFingerprint, fp)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m2 := start()
	defer m2.Close()
	if m2.TLSFingerprint != fp {
		t.Errorf("the certificate changed across a restart: %s then %s", fp, m2.TLSFingerprint)
	}
}

// A damaged certificate does not stop the daemon: it is kept aside and a new one is made.
func TestLoadOrCreateCert_Damaged(t *testing.T) {
	dir := t.TempDir()
	_, fp1, _, err := loadOrCreateCert(dir, "C20-1001", "10.42.0.1:8443", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, tlsCertFile), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, fp2, why, err := loadOrCreateCert(dir, "C20-1001", "10.42.0.1:8443", time.Now())
	if err != nil || fp2 == fp1 || why == "" {
		t.Fatalf("after damage: fingerprint %s (was %s), why %q, err %v", fp2, fp1, why, err)
	}
	if _, err := os.Stat(filepath.Join(dir, tlsCertFile+".bad")); err != nil {
		t.Errorf("the damaged certificate was not kept: %v", err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil || len(leaf.IPAddresses) != 2 || !leaf.IPAddresses[1].Equal(net.ParseIP("10.42.0.1")) {
		t.Errorf("certificate IPs %v, %v: want 127.0.0.1 and the hotspot's", leaf.IPAddresses, err)
	}
}

// The HTTPS key is treated as the signing key is: readable by others, it is refused.
func TestLoadOrCreateCert_KeyReadableByOthers(t *testing.T) {
	dir := t.TempDir()
	if _, _, _, err := loadOrCreateCert(dir, "C20-1001", "10.42.0.1:8443", time.Now()); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(dir, tlsKeyFile)
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, _, err := loadOrCreateCert(dir, "C20-1001", "10.42.0.1:8443", time.Now())
	if err == nil || !strings.Contains(err.Error(), "lets others read it; chmod 600 it") {
		t.Fatalf("a 0644 HTTPS key: %v, want it refused", err)
	}
	if _, err := os.Stat(key + ".bad"); err == nil {
		t.Error("a readable key was set aside and replaced instead of refused")
	}
}
