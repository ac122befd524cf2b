#!/usr/bin/env bash
# Installs every Debian package immp needs to build, test and benchmark.
# Idempotent: prints nothing and touches nothing when all packages are present.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git clang libclang-rt-14-dev ccache
  # libraries
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev libssl-dev
  libyaml-cpp-dev libtomlplusplus-dev libspdlog-dev libfmt-dev libcli11-dev
  libsqlite3-dev libpqxx-dev libicu-dev libcmark-gfm-dev libcmark-gfm-extensions-dev
  libre2-dev libsodium-dev libexpat1-dev libnats-dev libmimalloc-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev procps
  # real servers started by the integration tests
  postgresql ngircd inspircd atheme-services
  prosody ejabberd nats-server python3-slixmpp nodejs
  # the browser tests (tests/browser): headless Chromium and a font to draw with
  chromium fonts-dejavu-core
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
# Debian's nodejs comes without npm; NodeSource's (on some machines) has it.
command -v npm >/dev/null || missing+=(npm)

# The npm packages, pinned in package-lock.json files and installed into
# each folder's node_modules only: the browser tests' playwright-core
# (1.61.x: the last that runs on Debian's node 18) and the Node SDK's nats
# (its NATS side; sdk/node/immp-nats.js).
npm_deps() {
  local root dir pkg want have
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  dir="$root/$1"
  pkg="$2"
  want=$(sed -n "s/.*\"$pkg\": \"\(.*\)\".*/\1/p" "$dir/package.json")
  have=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' \
    "$dir/node_modules/$pkg/package.json" 2>/dev/null || true)
  [[ "$have" == "$want" ]] && return 0
  echo "setup: installing $pkg $want into $1" >&2
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
}
node_deps() {
  npm_deps tests/browser playwright-core
  npm_deps sdk/node nats
}

if ((${#missing[@]} == 0)); then
  node_deps
  exit 0
fi

echo "setup: installing ${missing[*]}" >&2
sudo=()
((EUID == 0)) || sudo=(sudo)
export DEBIAN_FRONTEND=noninteractive
# The test servers must not run as system services: the tests start their own.
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee /usr/sbin/policy-rc.d >/dev/null
  "${sudo[@]}" chmod +x /usr/sbin/policy-rc.d
  trap '"${sudo[@]}" rm -f /usr/sbin/policy-rc.d' EXIT
fi
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
node_deps
