# Sourced by the scripts in this folder: finds uv, or installs it into .tools/ with the
# Python that is already on the machine, then makes sure the locked environment exists.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"

find_python() {
  local candidate
  for candidate in python3.13 python3.12 python3.11 python3 python; do
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      command -v "$candidate"
      return 0
    fi
  done
  echo "winback needs Python 3.11 or newer on the PATH" >&2
  return 1
}

if command -v uv >/dev/null 2>&1; then
  UV="$(command -v uv)"
elif [ -x "$ROOT/.tools/bin/uv" ]; then
  UV="$ROOT/.tools/bin/uv"
else
  PY="$(find_python)"
  echo "winback: installing uv into .tools/ (once)" >&2
  # pip --target needs no venv module (Debian ships Python without it).
  if ! "$PY" -m pip install --quiet --disable-pip-version-check --target "$ROOT/.tools" uv; then
    rm -rf "$ROOT/.tools"
    "$PY" -m venv "$ROOT/.tools"
    "$ROOT/.tools/bin/pip" install --quiet --disable-pip-version-check uv
  fi
  UV="$ROOT/.tools/bin/uv"
fi
export UV
# The tests need the optional Spark extra; the demo does not, and leaves it alone if present.
"$UV" sync --frozen --quiet ${SYNC_ARGS:---inexact}
# The desk's front-end files (htmx, Swagger UI) come from their npm packages, served by
# the app itself. Static files need no install scripts (and swagger-ui-dist's telemetry
# dependency would run one). A node_modules that is a symbolic link (a git worktree sharing
# another checkout's) is left alone: npm ci would empty the folder it points to.
if [ -f "$ROOT/package-lock.json" ] && [ ! -L "$ROOT/node_modules" ] && command -v npm >/dev/null 2>&1; then
  if [ ! -d "$ROOT/node_modules" ] || [ "$ROOT/package-lock.json" -nt "$ROOT/node_modules" ]; then
    npm ci --silent --no-fund --no-audit --ignore-scripts && touch "$ROOT/node_modules"
  fi
fi
