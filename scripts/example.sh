#!/usr/bin/env bash
# kiln's main job on a fresh machine: provision, make a busybox base image from Debian's
# busybox-static (there is no Docker Hub here), build examples/hello and show what it holds.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$here/scripts/setup.sh"
kiln="$here/bin/kiln"
export KILN_ROOT=${KILN_ROOT:-/var/lib/kiln}
"$here/node_modules/.bin/node" "$here/scripts/make-busybox.ts" busybox:latest
"$kiln" build --progress plain -t hello:latest "$here/examples/hello"
"$kiln" images
# Show what the image holds: export its filesystem and read the file the build stage wrote.
out=$(mktemp -d)
"$kiln" build --progress quiet -o "type=local,dest=$out" "$here/examples/hello" >/dev/null
echo "examples/hello built; /srv/out.txt in the image says: $(cat "$out/srv/out.txt")"
rm -rf "$out"
