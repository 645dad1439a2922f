#!/usr/bin/env bash
# kiln's main job on a fresh machine: provision, make a busybox base image from Debian's
# busybox-static (there is no Docker Hub here), build examples/hello, run its command with runc.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$here/scripts/setup.sh"
kiln="$here/bin/kiln"
export KILN_ROOT=${KILN_ROOT:-/var/lib/kiln}
"$here/node_modules/.bin/node" "$here/scripts/make-busybox.ts" busybox:latest
"$kiln" build --progress plain -t hello:latest "$here/examples/hello"
"$kiln" images
"$kiln" image inspect hello:latest --format '{{json .Config}}' 2>/dev/null || "$kiln" image inspect hello:latest
