# Sourced by the scripts in this folder: finds uv, or installs it into .tools/ with the
# Python that is already on the machine, then makes sure the locked environment exists.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
if command -v uv >/dev/null 2>&1; then
  UV="$(command -v uv)"
elif [ -x "$ROOT/.tools/bin/uv" ]; then
  UV="$ROOT/.tools/bin/uv"
else
  PY="$(command -v python3.13 || command -v python3.12 || command -v python3.11 || command -v python3)"
  "$PY" -c 'import sys; assert sys.version_info >= (3, 11), "winback needs Python 3.11 or newer"'
  echo "winback: installing uv into .tools/ (once)" >&2
  "$PY" -m venv "$ROOT/.tools"
  "$ROOT/.tools/bin/pip" install --quiet --disable-pip-version-check uv
  UV="$ROOT/.tools/bin/uv"
fi
export UV
"$UV" sync --frozen --quiet ${WINBACK_SYNC_ARGS:-}
