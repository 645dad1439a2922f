#!/usr/bin/env bash
# Provision everything kiln and its tests need on a fresh Debian 12 machine (run as root):
# Debian packages (runc, busybox-static for amd64 and arm64, docker-registry, docker.io, skopeo, umoci,
# qemu-user-static, attr for extended attributes, slirp4netns for RUN's default network, buildah
# as a judge of working-container commits, chromium to open build reports headless, mmdebstrap for
# the base of kiln's own image; docker-compose and python3-docker, clients of `kiln serve` in its
# tests; strace, which a unit test watches a child's system calls with), Node 24
# and the npm packages, and `kiln` on the PATH.
# Idempotent: a second run only checks.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export DEBIAN_FRONTEND=noninteractive

need_pkgs=()
for pair in runc:runc busybox:busybox-static docker-registry:docker-registry skopeo:skopeo umoci:umoci \
  qemu-aarch64-static:qemu-user-static update-binfmts:binfmt-support htpasswd:apache2-utils openssl:openssl \
  git:git getfattr:attr xz:xz-utils bzip2:bzip2 slirp4netns:slirp4netns dockerd:docker.io buildah:buildah chromium:chromium \
  mmdebstrap:mmdebstrap docker-compose:docker-compose strace:strace; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need_pkgs+=("${pair#*:}")
done
# docker-py, a client the serve tests drive kiln's Engine API with.
python3 -c 'import docker' >/dev/null 2>&1 || need_pkgs+=(python3-docker)
fixtures=/var/cache/kiln-fixtures
if [ ${#need_pkgs[@]} -gt 0 ] || [ ! -x "$fixtures/busybox-arm64" ]; then
  if [ "$(id -u)" != 0 ]; then echo "setup: need root to install: ${need_pkgs[*]}" >&2; exit 1; fi
  dpkg --add-architecture arm64 2>/dev/null || true
  apt-get update -qq
  [ ${#need_pkgs[@]} -gt 0 ] && apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
  # busybox-static for each architecture the fixtures need (amd64 from the host's own package).
  mkdir -p "$fixtures"
  for arch in amd64 arm64; do
    if [ ! -x "$fixtures/busybox-$arch" ]; then
      tmp=$(mktemp -d)
      (cd "$tmp" && apt-get download -qq "busybox-static:$arch" >/dev/null && dpkg-deb -x busybox-static_*.deb root)
      install -m 0755 "$tmp/root/bin/busybox" "$fixtures/busybox-$arch.tmp"
      mv "$fixtures/busybox-$arch.tmp" "$fixtures/busybox-$arch"
      rm -rf "$tmp"
    fi
  done
fi
# Foreign-architecture RUN steps go through qemu-user-static's binfmt handlers.
if [ -d /proc/sys/fs/binfmt_misc ] && [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
  mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null || true
  update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
fi

cd "$here"
# `npm install` (not `npm ci`): this npm writes lock files without other platforms' optional
# packages, which `npm ci` then rejects; install still follows the lock's versions.
if [ ! -x node_modules/.bin/node ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm install --no-fund --no-audit --loglevel=error >/dev/null
fi
# The CLI's start-up cache: one bundled module loads in about half the time of ~250 sources.
# bin/kiln (through bin/kiln.cjs) uses it only while it is newer than every source file.
PATH="$here/node_modules/.bin:$PATH" npm run --silent bundle
node_major=$(node_modules/.bin/node -p 'process.versions.node.split(".")[0]')
[ "$node_major" = 24 ] || { echo "setup: expected Node 24 in node_modules, got $node_major" >&2; exit 1; }
if [ "$(id -u)" = 0 ] && [ "$(readlink -f /usr/local/bin/kiln 2>/dev/null)" != "$here/bin/kiln" ]; then
  ln -sf "$here/bin/kiln" /usr/local/bin/kiln
fi
