#!/bin/sh
# post-build.sh: what the rootfs overlay cannot express. The data directory is a mount point
# on the read-only root; systemd's StateDirectory creates nothing on a read-only file system.
set -eu
mkdir -p "${TARGET_DIR}/var/lib/maskservice"
