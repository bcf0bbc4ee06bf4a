#!/usr/bin/env bash
# Start the inference server from this version folder (the container's start command runs this).
# Installs requirements.txt only when the interpreter lacks them, into a venv on the share keyed by
# the file's hash, so restarts and new replicas skip pip.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
share="${AITK_SHARE_ROOT:-/mount}"
python="${AITK_PYTHON:-python3}"
cd "$here"

satisfied() {
    "$1" - requirements.txt <<'PY'
import sys
from importlib.metadata import PackageNotFoundError, version

missing = []
for line in open(sys.argv[1], encoding="utf-8"):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    name, _, pinned = line.partition("==")
    try:
        if version(name) != pinned:
            missing.append(line)
    except PackageNotFoundError:
        missing.append(line)
if missing:
    print("aitk-infer: needs " + " ".join(missing), file=sys.stderr)
sys.exit(1 if missing else 0)
PY
}

if ! satisfied "$python"; then
    hash="$(sha256sum requirements.txt | cut -d' ' -f1)"
    venv="$share/aitk-infer/pyenv/$hash"
    if [ ! -f "$venv/.ok" ]; then
        # Build beside the final place and rename: a replica starting meanwhile never sees half a venv.
        building="$venv.building.$$"
        mkdir -p "$(dirname "$venv")"
        "$python" -m venv --system-site-packages "$building"
        "$building/bin/python" -m pip install --no-input --disable-pip-version-check -r requirements.txt
        touch "$building/.ok"
        mv -T "$building" "$venv" 2>/dev/null || rm -rf "$building"  # another replica won the race
    fi
    python="$venv/bin/python"
    echo "aitk-infer: using $venv"
fi

exec "$python" -m aitk_serve
