#!/usr/bin/env bash
# Packs bindings-node as npm would publish it, installs the tarball into an
# empty project, loads it with require() and with import, and runs the
# README's JavaScript quick start there.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
tarball="$(cd "$root/bindings-node" && npm pack --silent --pack-destination "$work" | tail -n 1)"
mkdir "$work/app"
cd "$work/app"
npm init -y >/dev/null
npm install --no-audit --no-fund --silent "$work/$tarball"
node -e "const u = require('unistock'); if (typeof u.Engine !== 'function') process.exit(1); console.log('require: ok')"
node --input-type=module -e "import { Engine } from 'unistock'; new Engine(); console.log('import: ok')"
python3 - "$root/README.md" > quickstart.js <<'PY'
import re, sys
blocks = re.findall(r"```js\n(.*?)```", open(sys.argv[1]).read(), re.S)
assert blocks, "the README has a JavaScript quick start"
# console.assert only logs; in this check a failed assertion must fail.
print("console.assert = (ok, ...m) => { if (!ok) throw new Error('README assertion failed ' + m.join(' ')) }")
print("\n".join(blocks))
PY
node quickstart.js
echo "README quick start: ok"
