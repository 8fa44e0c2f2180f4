#!/usr/bin/env bash
# Installs what khappy needs to build, test and run on Debian 12.
# Idempotent: installs only packages that are missing; prints nothing when
# everything is already there. Uses sudo when not root.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev valgrind
  # libraries the product links
  libjpeg62-turbo-dev libpng-dev libsqlite3-dev libpq-dev libmicrohttpd-dev
  libcurl4-openssl-dev libjansson-dev libyaml-dev libopenblas-dev
  # tests: unit test framework, ONNX conformance data, PostgreSQL server,
  # browser for the UI test, promtool, load tools
  libcmocka-dev libonnx-testdata postgresql chromium prometheus wrk jq curl
  # models are fetched with npm; the reference tools need node too
  nodejs npm
  ca-certificates fonts-dejavu-core
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    # node and npm may come from elsewhere than Debian: accept working commands.
    case "$p" in
      nodejs) command -v node >/dev/null && continue ;;
      npm) command -v npm >/dev/null && continue ;;
    esac
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
echo "bootstrap: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
