#!/usr/bin/env bash
# install-debian.sh: install maskserviced on a generic Debian ARM board (or any systemd Linux)
# and create its first SUPERUSER. Run as root from a checkout with the built binary:
#
#   make cross && sudo scripts/install-debian.sh bin/maskserviced-linux-arm64 [plant.toml]
#
# It creates the system user maskservice (group dialout, for the serial adapters), installs the
# binary as /usr/bin/maskserviced and the unit, puts the config (the one given, or the
# built-in simulator's when none) in /etc/maskservice/maskservice.toml unless one is there,
# starts the daemon once to create its data directory, then asks for the first SUPERUSER's
# name and password (typed twice, not shown) and starts it for good. Running it again updates
# the binary and the unit and keeps the config, the data and the users.
set -euo pipefail

die() { echo "install-debian.sh: $*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "run as root (sudo)"
[[ $# -ge 1 && $# -le 2 ]] || die "usage: $0 BINARY [CONFIG.toml]"
bin=$1
config=${2:-}
[[ -x $bin ]] || die "$bin is not an executable (build it with make cross)"
"$bin" version >/dev/null || die "$bin does not run on this machine (wrong architecture?)"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
unit=$here/systemd/maskservice.service
[[ -f $unit ]] || die "$unit is missing"
if [[ -n $config ]]; then
	"$bin" config check --config "$config" || die "$config is not a valid configuration"
fi

if ! id maskservice >/dev/null 2>&1; then
	useradd --system --home-dir /var/lib/maskservice --no-create-home --shell /usr/sbin/nologin \
		--groups dialout maskservice
fi
install -m 0755 "$bin" /usr/bin/maskserviced
install -m 0644 "$unit" /usr/lib/systemd/system/maskservice.service
install -d -m 0755 /etc/maskservice
if [[ ! -e /etc/maskservice/maskservice.toml ]]; then
	if [[ -n $config ]]; then
		install -m 0644 "$config" /etc/maskservice/maskservice.toml
	else
		# The simulator's three sensors: the daemon runs, and the real buses are configured later.
		printf '[[bus]]\nname = "sim"\ndriver = "sim"\n[[sensor]]\nid = "P1"\nbus = "sim"\n[[sensor]]\nid = "P2"\nbus = "sim"\n[[sensor]]\nid = "P3"\nbus = "sim"\n' \
			>/etc/maskservice/maskservice.toml
		echo "install-debian.sh: no config given: the simulator runs; edit /etc/maskservice/maskservice.toml"
	fi
fi
systemctl daemon-reload
systemctl enable maskservice.service
# One start creates /var/lib/maskservice (StateDirectory) and the database in it.
systemctl restart maskservice.service
systemctl stop maskservice.service
# Whatever happens below, the daemon runs again when the script ends.
trap 'systemctl start maskservice.service' EXIT

users=$(runuser -u maskservice -- /usr/bin/maskserviced user list --data /var/lib/maskservice)
if ! grep -q SUPERUSER <<<"$users"; then
	# Until the daemon accepts the name and the password (its rules: a valid name, at least
	# 10 characters).
	while :; do
		read -r -p "first SUPERUSER's name: " name
		read -r -s -p "password (at least 10 characters): " pw1 && echo
		read -r -s -p "the same again: " pw2 && echo
		if [[ $pw1 != "$pw2" ]]; then
			echo "the two differ; again"
			continue
		fi
		if printf '%s\n' "$pw1" | runuser -u maskservice -- /usr/bin/maskserviced user add "$name" --role SUPERUSER --data /var/lib/maskservice; then
			break
		fi
		echo "refused (see above); again"
	done
fi
echo "install-debian.sh: maskserviced runs: systemctl status maskservice; the UI is at http://127.0.0.1:8000 on the device"
