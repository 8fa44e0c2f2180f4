#!/usr/bin/env bash
# Installs the pinned CloudEvents JavaScript SDK (package.json and
# package-lock.json beside this script) into DEST, a folder under the build
# folder, for the interop test. Skips the install when DEST already holds
# exactly this lock file's tree. Test-only: the product never needs Node.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dest=${1:?usage: setup.sh DEST}
version=$(node -p 'require(process.argv[1]).dependencies.cloudevents' "$here/package.json")
stamp="$dest/.installed-package-lock.json"
if [ -f "$dest/node_modules/cloudevents/package.json" ] && cmp -s "$here/package-lock.json" "$stamp"; then
  echo "cloudevents@$version already installed in $dest"
  exit 0
fi
mkdir -p "$dest"
cp "$here/package.json" "$here/package-lock.json" "$dest/"
cd "$dest"
npm install --no-audit --no-fund --loglevel=error "cloudevents@$version"
installed=$(node -p 'require("cloudevents/package.json").version')
if [ "$installed" != "$version" ]; then
  echo "setup.sh: installed cloudevents $installed, expected $version" >&2
  exit 1
fi
cp "$here/package-lock.json" "$stamp"
echo "cloudevents@$installed installed in $dest"
