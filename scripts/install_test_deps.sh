#!/usr/bin/env bash
# Installs what the tests need on Debian or Ubuntu: Deno (from npm) when it is
# missing, and the apt packages below — the one list of them. Used by
# scripts/test.sh (the README's test command) and .ci/run.
#
# Where it cannot install (not root, no apt-get, or VNCWS_NO_INSTALL=1) it
# says what is missing and how to install it, and succeeds: each test that
# needs a missing program is then skipped with its install command. With
# CI=true a missing package is an error (and the tests would fail, not skip).
#
# Run it (`bash scripts/install_test_deps.sh`) or source it for DENO_VERSION,
# APT_PACKAGES and install_test_deps.

DENO_VERSION=2.9.6
# Debian packages the end-to-end tests start: VNC servers, X, WebSocket
# clients (python; jwcrypto mints JWTs), peers for the benchmark, redis, the browser, a C compiler
# for the rebind shim, the tools the tests use to watch processes, load balancers that send a
# PROXY header (HAProxy, nginx with its stream module), and the container tools of the
# multi-host and deployment tests (test/fleet/, test/deploy/).
APT_PACKAGES=(
  tigervnc-standalone-server tigervnc-tools tightvncserver x11vnc xvfb xfonts-base x11-xserver-utils
  xclip x11-utils
  python3 python3-websocket python3-websockets python3-jwcrypto python3-numpy websockify socat
  redis-server chromium novnc openssl gcc libc6-dev procps iproute2 util-linux systemd
  haproxy nginx libnginx-mod-stream podman buildah
)

# Why installing is not possible here, or nothing.
_vncws_cannot_install() {
  if [ "${VNCWS_NO_INSTALL:-}" = 1 ]; then
    echo "VNCWS_NO_INSTALL=1"
  elif [ "$(id -u)" != 0 ]; then
    echo "not root"
  elif ! command -v apt-get >/dev/null 2>&1; then
    echo "no apt-get"
  fi
}

# Deno $DENO_VERSION on PATH, from npm when missing (a different version is kept, with a note).
_vncws_install_deno() {
  if command -v deno >/dev/null 2>&1; then
    deno --version | head -1 | grep -q "^deno ${DENO_VERSION} " ||
      echo "note: $(deno --version | head -1) found; the tests are run with deno ${DENO_VERSION}"
    return 0
  fi
  local prefix
  prefix=$(npm prefix -g 2>/dev/null)
  if [ "${VNCWS_NO_INSTALL:-}" = 1 ] || [ -z "$prefix" ] || [ ! -w "$prefix/lib" ]; then
    echo "Deno is not installed: npm install -g deno@${DENO_VERSION}" \
      "(scripts/test.sh runs it with npx meanwhile)"
    [ "${CI:-}" = true ] && return 1
    return 0
  fi
  echo "== installing Deno ${DENO_VERSION} from npm"
  if ! npm install -g "deno@${DENO_VERSION}" >/dev/null 2>&1; then
    echo "npm install -g deno@${DENO_VERSION} failed"
    return 1
  fi
  # npm's global bin may not be on PATH yet
  command -v deno >/dev/null 2>&1 || export PATH="$prefix/bin:$PATH"
}

# Missing apt packages: installed when possible, else listed with the command.
_vncws_install_packages() {
  if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "no dpkg: install your system's equivalents of: ${APT_PACKAGES[*]}"
    echo "(tests whose programs are missing are skipped, each with what it needs)"
    [ "${CI:-}" = true ] && return 1
    return 0
  fi
  local missing=() p why log
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  why=$(_vncws_cannot_install)
  if [ -n "$why" ]; then
    echo "not installing (${why}) what the tests need: ${missing[*]}"
    echo "install it with: sudo apt-get install -y --no-install-recommends ${missing[*]}"
    echo "(until then the tests that need it are skipped, each with its install command)"
    [ "${CI:-}" = true ] && return 1
    return 0
  fi
  echo "== installing apt packages: ${missing[*]}"
  log="${TMPDIR:-/tmp}/vncws-apt.log"
  if ! {
    DEBIAN_FRONTEND=noninteractive apt-get update -q &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  } >"$log" 2>&1; then
    tail -20 "$log"
    echo "apt-get install failed (log: $log)"
    return 1
  fi
}

# Installs what is missing; fails when something the tests need could not be installed in CI,
# or an install that was tried failed.
install_test_deps() {
  _vncws_install_deno && _vncws_install_packages
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -uo pipefail
  install_test_deps
fi
