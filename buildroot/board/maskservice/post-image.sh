#!/bin/bash
# post-image.sh: the SD card image: boot (firmware, kernel, config.txt, cmdline.txt), the
# read-only root, and the data partition (1 GiB, grown to the card by hand if wanted).
set -euo pipefail

BOARD_DIR=$(dirname "$0")
GENIMAGE_CFG="${BINARIES_DIR}/genimage.cfg"
GENIMAGE_TMP="${BUILD_DIR}/genimage.tmp"

cp "${BOARD_DIR}/cmdline.txt" "${BINARIES_DIR}/rpi-firmware/cmdline.txt"
files=()
for f in "${BINARIES_DIR}"/*.dtb "${BINARIES_DIR}"/rpi-firmware/*; do
	files+=("${f#"${BINARIES_DIR}"/}")
done
files+=("Image")
boot_files=$(printf '\\t\\t\\t"%s",\\n' "${files[@]}")
sed "s|#BOOT_FILES#|${boot_files}|" "${BOARD_DIR}/genimage.cfg.in" >"${GENIMAGE_CFG}"

rootpath=$(mktemp -d)
trap 'rm -rf "${rootpath}"' EXIT
rm -rf "${GENIMAGE_TMP}"
genimage --rootpath "${rootpath}" --tmppath "${GENIMAGE_TMP}" --inputpath "${BINARIES_DIR}" \
	--outputpath "${BINARIES_DIR}" --config "${GENIMAGE_CFG}"
