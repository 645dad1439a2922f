#!/usr/bin/env bash
# The base of kiln's image (../Dockerfile) without Docker Hub: a Debian bookworm rootfs tarball
# made by mmdebstrap (minbase: essential packages and apt) with the packages kiln's isolation
# modes need. Run as root on a Debian machine that reaches Debian's mirrors; then
#   kiln image import OUT kiln-base:bookworm          # or push it to a registry
#   kiln build --build-arg BASE=kiln-base:bookworm -t kiln .
# Usage: image/base.sh OUT.tar [SUITE] [MIRROR]
set -euo pipefail
out=${1:?usage: image/base.sh OUT.tar [SUITE] [MIRROR]}
suite=${2:-bookworm}
mirror=${3:-}
command -v mmdebstrap >/dev/null || { echo "base.sh: needs mmdebstrap (apt-get install mmdebstrap)" >&2; exit 1; }
# SOURCE_DATE_EPOCH (the suite's last change when unset) makes mmdebstrap's tarball reproducible.
mmdebstrap --variant=minbase --format=tar --quiet \
  --include=runc,slirp4netns,uidmap,attr,ca-certificates \
  --aptopt='Acquire::Languages "none"' \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  "$suite" "$out.tmp" ${mirror:+"$mirror"}
mv "$out.tmp" "$out"
