#!/usr/bin/env bash
# The README's test command: installs what the tests need
# (scripts/install_test_deps.sh), then runs them all — `deno task test`, or
# the task named first (test:unit, test:e2e); further arguments go to it.
# Without Deno (and no way to install it) it runs Deno from npm with npx.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/install_test_deps.sh
install_test_deps || {
  echo "could not install what the tests need (see above)"
  exit 1
}

task=test
if [ $# -gt 0 ] && [[ "$1" == test* ]]; then
  task=$1
  shift
fi
if command -v deno >/dev/null 2>&1; then
  exec deno task "$task" "$@"
fi
exec npx -y "deno@${DENO_VERSION}" task "$task" "$@"
