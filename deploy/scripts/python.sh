#!/usr/bin/env bash
# Creates .venv with the pinned dependencies; reinstalls only when pyproject.toml changed.
set -euo pipefail
LOG_TAG=python
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

venv="$ROOT/.venv"
python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  apt_install python3 python3-venv
  python=python3
fi
"$python" -c 'import venv, ensurepip' 2>/dev/null || apt_install python3-venv

# Dossiers are rendered as PDF in Chinese (weasyprint): Pango and a CJK font from Debian.
pdf_libs=(fonts-noto-cjk libpango-1.0-0 libpangoft2-1.0-0)
dpkg -s "${pdf_libs[@]}" >/dev/null 2>&1 || apt_install "${pdf_libs[@]}"

stamp="$venv/.installed"
wanted=$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)
if [[ -f $stamp && $(cat "$stamp") == "$wanted" ]]; then
  log "dependencies up to date in .venv"
  exit 0
fi
[[ -x $venv/bin/python ]] || { log "creating .venv with $("$python" --version)"; "$python" -m venv "$venv"; }
log "installing pinned dependencies (pip install -e '.[dev]')"
"$venv/bin/pip" install -q --disable-pip-version-check -e "$ROOT[dev]"
echo "$wanted" >"$stamp"
log "ready: $venv"
