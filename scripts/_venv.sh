# Shared by scripts/start and scripts/test: make .venv if missing and install the package.
# Usage: EXTRAS=test . scripts/_venv.sh  (a variable, since a sourced file sees the
# caller's own arguments as $1, $2, …)
# Quiet: one progress line on stderr while installing; pip's own output goes to
# .venv/install.log and is shown only when the install fails.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PYTHON="${PYTHON:-python3}"
extras="${EXTRAS:-}"
spec="$ROOT"
if [ -n "$extras" ]; then spec="$ROOT[$extras]"; fi
# Reinstall only when the project's metadata changed, so a second start is instant. An
# install with extras (scripts/test's) has the base too: scripts/start then installs nothing.
stamp="$VENV/.installed-${extras:-base}"
installed=false
for done_stamp in "$VENV"/.installed-${extras:-*}; do
  if [ -f "$done_stamp" ] && [ ! "$ROOT/pyproject.toml" -nt "$done_stamp" ]; then installed=true; fi
done
if [ ! -x "$VENV/bin/python" ] || [ "$installed" = false ]; then
  echo "installing harbor-emulator${extras:+[$extras]} into .venv …" >&2
  mkdir -p "$VENV"
  log="$VENV/install.log"
  if ! {
    if [ ! -x "$VENV/bin/python" ]; then
      "$PYTHON" -m venv "$VENV" && "$VENV/bin/python" -m pip install --upgrade pip
    fi &&
      "$VENV/bin/python" -m pip install --disable-pip-version-check -e "$spec"
  } >"$log" 2>&1; then
    cat "$log" >&2
    echo "error: installing harbor-emulator into $VENV failed (pip's output above, kept in $log)" >&2
    exit 1
  fi
  touch "$stamp"
fi
