#!/usr/bin/env bash
# The whole test suite on a fresh machine: provision, then type check, lint, unit and
# integration tests (the integration rig starts its own registry on 127.0.0.1).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$here/scripts/setup.sh"
cd "$here"
export PATH="$here/node_modules/.bin:$PATH"
npm test
