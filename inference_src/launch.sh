#!/usr/bin/env bash
# Start the inference server from this version folder (the share bootstrap runs this). aitk_start
# (standard library only) checks the image's torch against constraints.txt, prepares the Python
# environment requirements.txt needs (built by the first start, packed on the share, unpacked to
# local disk by later ones) and execs the server with it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
exec "${AITK_PYTHON:-python3}" -m aitk_start
