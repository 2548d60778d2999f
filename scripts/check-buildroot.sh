#!/usr/bin/env bash
# check-buildroot.sh: check the BR2_EXTERNAL tree against a Buildroot checkout named by
# BUILDROOT_DIR (fetched for the purpose, never committed): Buildroot's own check-package on
# every file of the tree, then the defconfig step, then that no option of the defconfig was
# dropped (an unmet dependency drops an option silently). Needs no toolchain and no download:
# it runs in seconds. check-package needs Python's magic and flake8 (Debian: python3-magic,
# python3-flake8).
#
#   BUILDROOT_DIR=~/src/buildroot scripts/check-buildroot.sh
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tree=$here/buildroot
br=${BUILDROOT_DIR:?set BUILDROOT_DIR to a Buildroot checkout}
[[ -x $br/utils/check-package ]] || { echo "check-buildroot.sh: $br is not a Buildroot checkout" >&2; exit 1; }

mapfile -t files < <(find "$tree/package" "$tree/configs" -type f; echo "$tree/Config.in"; echo "$tree/external.mk"; echo "$tree/external.desc"; find "$tree/board" -maxdepth 2 -name '*.sh')
# The system's Python, where the distribution's python3-magic and python3-flake8 live (a
# pyenv python3 first in PATH would lack them); PYTHON overrides.
py=${PYTHON:-/usr/bin/python3}
[[ -x $py ]] || py=python3
(cd "$br" && "$py" utils/check-package -b "${files[@]}")

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for defconfig in "$tree"/configs/*_defconfig; do
	name=$(basename "$defconfig")
	make -s -C "$br" BR2_EXTERNAL="$tree" O="$out" "$name" >/dev/null
	dropped=0
	while IFS= read -r line; do
		[[ -z $line || $line == \#* ]] && continue
		if ! grep -qxF -- "$line" "$out/.config"; then
			echo "check-buildroot.sh: $name: dropped (unmet dependency?): $line" >&2
			dropped=1
		fi
	done <"$defconfig"
	[[ $dropped -eq 0 ]] || exit 1
	echo "check-buildroot.sh: $name: every option kept"
done
