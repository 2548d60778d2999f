// Package buildroot_test checks the BR2_EXTERNAL tree without Buildroot: every file it
// references exists and the pieces agree with each other. scripts/check-buildroot.sh checks
// it against a Buildroot checkout.
package buildroot_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func exists(t *testing.T, path, why string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Errorf("%s: %v", why, err)
	}
}

// Every $(BR2_EXTERNAL_MASKSERVICE_PATH)/… of the defconfigs, every source of Config.in.
func TestTree_References(t *testing.T) {
	ext := regexp.MustCompile(`\$\(BR2_EXTERNAL_MASKSERVICE_PATH\)/([^"\s]+)`)
	defconfigs, _ := filepath.Glob("configs/*_defconfig")
	if len(defconfigs) == 0 {
		t.Fatal("no defconfig")
	}
	for _, d := range defconfigs {
		for _, m := range ext.FindAllStringSubmatch(read(t, d), -1) {
			exists(t, m[1], d+" refers to it")
		}
		if !strings.Contains(read(t, d), "BR2_PACKAGE_MASKSERVICE=y") {
			t.Errorf("%s does not select the maskservice package", d)
		}
	}
	src := regexp.MustCompile(`source "\$BR2_EXTERNAL_MASKSERVICE_PATH/([^"]+)"`)
	for _, m := range src.FindAllStringSubmatch(read(t, "Config.in"), -1) {
		exists(t, m[1], "Config.in sources it")
	}
	if !strings.HasPrefix(read(t, "external.desc"), "name: MASKSERVICE\n") {
		t.Error("external.desc does not name the tree MASKSERVICE (the variables are BR2_EXTERNAL_MASKSERVICE_*)")
	}
	for _, s := range []string{"board/maskservice/post-build.sh", "board/maskservice/post-image.sh"} {
		if fi, err := os.Stat(s); err != nil || fi.Mode()&0o111 == 0 {
			t.Errorf("%s is missing or not executable", s)
		}
	}
}

// The package builds and installs what the repository has, and refuses a checkout that lacks
// what is built outside the image's build (the Go modules, the UI).
func TestTree_Package(t *testing.T) {
	mk := read(t, "package/maskservice/maskservice.mk")
	targets := regexp.MustCompile(`MASKSERVICE_BUILD_TARGETS = (.+)`).FindStringSubmatch(mk)
	if targets == nil {
		t.Fatal("no MASKSERVICE_BUILD_TARGETS")
	}
	for _, dir := range strings.Fields(targets[1]) {
		exists(t, filepath.Join("..", dir, "main.go"), "a build target")
	}
	installs := regexp.MustCompile(`\$\(INSTALL\)[^\n]*\$\(@D\)/(\S+)`).FindAllStringSubmatch(mk, -1)
	if len(installs) == 0 {
		t.Error("maskservice.mk installs nothing from the checkout")
	}
	for _, m := range installs {
		exists(t, filepath.Join("..", m[1]), "maskservice.mk installs it")
	}
	// A prerequisite is a build output, absent from a fresh clone, so the test cannot stat it;
	// it checks instead that the hook says how to make it and that this way exists.
	makefile := read(t, "../Makefile")
	prereqs := map[string]bool{}
	hook := regexp.MustCompile(`test -f \$\(@D\)/(\S+) \|\| \{[^}]*?run '([^']+)'`)
	for _, m := range hook.FindAllStringSubmatch(mk, -1) {
		path, cmd := m[1], m[2]
		prereqs[path] = true
		switch target, isMake := strings.CutPrefix(cmd, "make "); {
		case cmd == "go mod vendor":
			if !strings.HasPrefix(path, "vendor/") {
				t.Errorf("maskservice.mk expects %s from go mod vendor, which writes vendor/ only", path)
			}
		case isMake:
			if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(target) + `:`).MatchString(makefile) {
				t.Errorf("maskservice.mk says to run %q for %s, but the Makefile has no target %s", cmd, path, target)
			}
			// The directory it builds into is in the repository (web/ui/dist keeps a .gitkeep
			// for the embed).
			exists(t, filepath.Join("..", filepath.Dir(path)), "the directory "+cmd+" builds "+path+" into")
		default:
			t.Errorf("maskservice.mk says to run %q for %s, a command this test does not know", cmd, path)
		}
	}
	for _, want := range []string{"vendor/modules.txt", "web/ui/dist/index.html"} {
		if !prereqs[want] {
			t.Errorf("maskservice.mk does not refuse a checkout without %s", want)
		}
	}
	if !strings.Contains(mk, "dialout") {
		t.Error("the maskservice user is not in dialout: it could not open the serial adapters")
	}
}

// The overlay's units, presets, network and mounts agree.
func TestTree_Overlay(t *testing.T) {
	ov := "board/maskservice/rootfs-overlay"
	preset := read(t, ov+"/usr/lib/systemd/system-preset/80-maskservice.preset")
	for _, line := range strings.Split(strings.TrimSpace(preset), "\n") {
		unit := strings.TrimPrefix(line, "enable ")
		switch {
		case unit == "systemd-networkd.service": // Buildroot's systemd package has it
		case strings.HasPrefix(unit, "maskservice"):
			exists(t, filepath.Join("../systemd", unit), "the preset enables it")
		default:
			exists(t, filepath.Join(ov, "usr/lib/systemd/system", unit), "the preset enables it")
		}
	}
	for unit, conf := range map[string]string{"hostapd.service": "/etc/hostapd.conf", "dnsmasq.service": "/etc/dnsmasq.conf"} {
		if !strings.Contains(read(t, filepath.Join(ov, "usr/lib/systemd/system", unit)), conf) {
			t.Errorf("%s does not use %s", unit, conf)
		}
		exists(t, filepath.Join(ov, conf), unit+" reads it")
	}
	// The hotspot's address is the one the network, DHCP and the daemon's HTTPS agree on.
	for _, f := range []string{ov + "/etc/systemd/network/20-hotspot.network", ov + "/etc/maskservice/maskservice.toml"} {
		if !strings.Contains(read(t, f), "10.42.0.1") {
			t.Errorf("%s does not use the hotspot address 10.42.0.1", f)
		}
	}
	if !strings.Contains(read(t, ov+"/etc/dnsmasq.conf"), "10.42.0.") {
		t.Error("dnsmasq hands out addresses outside the hotspot's network")
	}
	// The data partition of the image is the one fstab mounts at the data directory.
	if !strings.Contains(read(t, "board/maskservice/genimage.cfg.in"), "partition data") ||
		!strings.Contains(read(t, ov+"/etc/fstab"), "/dev/mmcblk0p3  /var/lib/maskservice") {
		t.Error("the image's third partition and the fstab's data mount disagree")
	}
	// The kiosk's PAM service gives cage a logind session.
	pam := regexp.MustCompile(`(?m)^PAMName=(\S+)`).FindStringSubmatch(read(t, "../systemd/maskservice-kiosk.service"))
	if pam == nil || !strings.Contains(read(t, filepath.Join(ov, "etc/pam.d", pam[1])), "pam_systemd.so") {
		t.Errorf("the kiosk unit's PAM service %v is missing or makes no logind session", pam)
	}
	if !strings.Contains(read(t, "configs/maskservice_rpi4_64_defconfig"), "BR2_PACKAGE_LINUX_PAM=y") {
		t.Error("the kiosk unit uses PAM, but the image has no linux-pam")
	}
	// The kiosk is started (its target is the default one) and runs its script, which turns
	// the panel and starts cog.
	kiosk := read(t, "../systemd/maskservice-kiosk.service")
	if !strings.Contains(kiosk, "WantedBy=multi-user.target") {
		t.Error("the kiosk is wanted by a target the image does not reach (its default is multi-user.target)")
	}
	script := regexp.MustCompile(`ExecStart=/usr/bin/cage .* -- (\S+)`).FindStringSubmatch(kiosk)
	if script == nil {
		t.Fatal("the kiosk unit does not run a script in cage")
	}
	if fi, err := os.Stat(filepath.Join(ov, script[1])); err != nil || fi.Mode()&0o111 == 0 {
		t.Errorf("the kiosk script %s is missing or not executable", script[1])
	} else if body := read(t, filepath.Join(ov, script[1])); !strings.Contains(body, "wlr-randr") || !strings.Contains(body, "exec cog") {
		t.Errorf("the kiosk script does not turn the panel and start cog")
	}
	if !strings.Contains(read(t, "configs/maskservice_rpi4_64_defconfig"), "BR2_PACKAGE_WLR_RANDR=y") {
		t.Error("the kiosk script uses wlr-randr, which the image lacks")
	}
	if !strings.Contains(read(t, "board/maskservice/cmdline.txt"), " ro ") {
		t.Error("the root file system is not mounted read-only")
	}
}
