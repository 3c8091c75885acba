# Shared by scripts/start and scripts/test: make .venv if missing and install the package.
# Usage: EXTRAS=test . scripts/_venv.sh  (a variable, since a sourced file sees the
# caller's own arguments as $1, $2, …)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PYTHON="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
fi
extras="${EXTRAS:-}"
spec="$ROOT"
if [ -n "$extras" ]; then spec="$ROOT[$extras]"; fi
# Reinstall only when the project's metadata changed, so a second start is instant.
stamp="$VENV/.installed-${extras:-base}"
if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ]; then
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$spec"
  touch "$stamp"
fi
