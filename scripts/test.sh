#!/usr/bin/env bash
# Runs the whole test suite. Installs nothing it does not check for first, except the AWS
# tests' Python virtualenv (moto's server and boto3, pinned), which scripts/moto-venv.sh creates
# or refreshes in .venv-test/; fails with a message saying what is missing instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."

need() {
  command -v "$1" >/dev/null 2>&1 || { echo "error: the tests need $1 ($2)" >&2; exit 1; }
}
need cargo "install Rust with rustup"
need python3 "local nodes in the tests run a small Python HTTP service; apt-get install python3"

# Debian packages the tests start or call: "program package why" per line. Whatever is missing
# is installed in one apt-get run (as root), or the script stops saying what to install.
DEBS=(
  "/usr/sbin/sshd openssh-server the inventory tests log in to local nodes over SSH"
  "/usr/bin/puppet puppet the Puppet example runs puppet apply on nodes over SSH"
  "/usr/bin/age age the vault tests open shares with age identities and encrypt shares with the age CLI"
  "/usr/bin/chromium chromium the dashboard tests drive headless Chromium (tests/serve.rs)"
  "/usr/bin/chromedriver chromium-driver the dashboard tests speak WebDriver to chromedriver"
  "/usr/bin/prometheus prometheus a real Prometheus scrapes oss serve's /metrics (tests/serve.rs)"
  "/usr/sbin/named bind9 the DNS tests publish records on a real BIND 9 server"
  "/usr/sbin/tsig-keygen bind9-utils the DNS tests make a TSIG key and change the zone with nsupdate"
  "/usr/bin/dig bind9-dnsutils the DNS tests check the records with dig"
  "/usr/sbin/haproxy haproxy the load-balancer tests run the haproxy provider's real HAProxy (tests/load_balancer.rs)"
  "/usr/bin/curl curl the load-balancer tests curl through the balancer by its DNS name"
)
missing=()
for line in "${DEBS[@]}"; do
  read -r program package why <<<"$line"
  [ -x "$program" ] || { echo "Installing $package ($why)" >&2; missing+=("$package"); }
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  else
    echo "error: the tests need: apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

# The AWS driver's and the S3 backend's tests run against moto; each test starts its own
# moto_server from this virtualenv on a free loopback port. Pins change → the venv is rebuilt.
VENV=$(bash scripts/moto-venv.sh)
export OSS_TEST_VENV="$VENV"

# A throwaway PostgreSQL for the state-backend tests, stopped however this script ends.
eval "$(bash scripts/postgres.sh)"
trap 'bash scripts/postgres.sh stop "$OSS_TEST_PG_DIR"' EXIT

cargo build --quiet --all-targets
# Tests only (benches are run by bench/*.sh); build every target above so they stay compiling.
cargo test --lib --bins --tests -- --test-threads "${OSS_TEST_THREADS:-4}"
