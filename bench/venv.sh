# Shared by the benches that need Python packages (sourced, not run): a virtualenv of pinned
# packages, made again only when its pins change. Progress goes to stderr.

# Creates DIR as a virtualenv holding PINS unless DIR/bin/EXECUTABLE exists and DIR/.oss-pins
# names the same pins.
pinned_venv() { # dir executable pin...
  local dir=$1 executable=$2
  shift 2
  command -v python3 >/dev/null || { echo "error: this bench needs python3" >&2; exit 1; }
  if [ -x "$dir/bin/$executable" ] && [ "$(cat "$dir/.oss-pins" 2>/dev/null)" = "$*" ]; then
    return
  fi
  echo "setting up the virtualenv in $dir ($*)" >&2
  python3 -m venv --clear "$dir" || {
    echo "error: cannot create a Python virtualenv; apt-get install python3-venv" >&2
    exit 1
  }
  "$dir/bin/pip" install --quiet --disable-pip-version-check "$@" >&2
  echo "$*" >"$dir/.oss-pins"
}
