#!/usr/bin/env bash
# Runs the whole test suite. Installs nothing it does not check for first, except the AWS
# tests' Python virtualenv (moto's server and boto3, pinned), which it creates or refreshes in
# .venv-test/; fails with a message saying what is missing instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."

need() {
  command -v "$1" >/dev/null 2>&1 || { echo "error: the tests need $1 ($2)" >&2; exit 1; }
}
need cargo "install Rust with rustup"
need python3 "local nodes in the tests run a small Python HTTP service; apt-get install python3"

# The AWS driver's tests run against moto's EC2 emulator; each test starts its own
# moto_server from this virtualenv on a free loopback port. Pins change → the venv is rebuilt.
PINS=("moto[server]==5.2.5" "boto3==1.44.8")
VENV="${OSS_TEST_VENV:-$PWD/.venv-test}"
if [ ! -x "$VENV/bin/moto_server" ] || [ "$(cat "$VENV/.oss-pins" 2>/dev/null)" != "${PINS[*]}" ]; then
  echo "Setting up the AWS test virtualenv in $VENV (${PINS[*]})" >&2
  python3 -m venv --clear "$VENV" || {
    echo "error: cannot create a Python virtualenv; apt-get install python3-venv" >&2
    exit 1
  }
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "${PINS[@]}"
  echo "${PINS[*]}" >"$VENV/.oss-pins"
fi
export OSS_TEST_VENV="$VENV"

# A throwaway PostgreSQL for the state-backend tests, stopped however this script ends.
eval "$(bash scripts/postgres.sh)"
trap 'bash scripts/postgres.sh stop "$OSS_TEST_PG_DIR"' EXIT

cargo build --quiet --all-targets
# Tests only (benches are run by bench/*.sh); build every target above so they stay compiling.
cargo test --lib --bins --tests -- --test-threads "${OSS_TEST_THREADS:-4}"
