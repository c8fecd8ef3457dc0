#!/usr/bin/env bash
# Makes sure the tests' Python virtualenv exists, creating or refreshing it when the pins
# change, and prints its path: moto's server and boto3 (the AWS driver's and S3 backend's
# tests), ansible-core, Fabric and salt-ssh (the configuration-management tests; ansible-core
# 2.17 and salt 3008.4 are the releases pip resolves on Python 3.11). Used by scripts/test.sh
# and the benchmarks that start moto.   VENV=$(bash scripts/moto-venv.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
PINS=("moto[server]==5.2.5" "boto3==1.44.8" "ansible-core==2.17.7" "fabric==3.2.3" "salt==3008.4")
VENV="${OSS_TEST_VENV:-$PWD/.venv-test}"
if [ ! -x "$VENV/bin/moto_server" ] || [ ! -x "$VENV/bin/ansible-inventory" ] || [ ! -x "$VENV/bin/salt-ssh" ] || [ "$(cat "$VENV/.oss-pins" 2>/dev/null)" != "${PINS[*]}" ]; then
  echo "Setting up the test virtualenv in $VENV (${PINS[*]})" >&2
  python3 -m venv --clear "$VENV" >&2 || {
    echo "error: cannot create a Python virtualenv; apt-get install python3-venv" >&2
    exit 1
  }
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "${PINS[@]}" >&2
  echo "${PINS[*]}" >"$VENV/.oss-pins"
fi
echo "$VENV"
