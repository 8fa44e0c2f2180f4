#!/usr/bin/env bash
# Runs the browser test of the UI (ui-test.mjs) against a running server:
# installs the pinned playwright-core (package-lock.json) into WORKDIR, then
# drives /usr/bin/chromium. Screenshots land in WORKDIR/screenshots.
#
#   tests/web/browser/run.sh WORKDIR URL PICTURE... [--expect-fail NAME]...
#
# For `khappy serve`: start it, then pass its URL and the demo pictures.
set -euo pipefail

if [ $# -lt 3 ]; then
  echo "usage: $0 WORKDIR URL PICTURE... [--expect-fail NAME] [--timeout-s N]" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
work=$1
shift
mkdir -p "$work"
work=$(cd "$work" && pwd)

for tool in node npm; do
  command -v $tool >/dev/null || { echo "browser test: $tool not found" >&2; exit 1; }
done
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || {
  echo "browser test: ${CHROMIUM:-/usr/bin/chromium} not found (Debian package chromium)" >&2
  exit 1
}

# npm ci only when the lock changed since the last install.
if ! cmp -s "$here/package-lock.json" "$work/package-lock.json" ||
   [ ! -d "$work/node_modules/playwright-core" ]; then
  cp "$here/package.json" "$here/package-lock.json" "$work/"
  (cd "$work" && npm ci --no-audit --no-fund --loglevel=error)
fi
cp "$here/ui-test.mjs" "$work/"
cd "$work"
exec node ui-test.mjs "$@" --screenshots "$work/screenshots"
