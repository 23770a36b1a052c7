#!/usr/bin/env bash
# Set up everything, then run the linters and the whole test suite (real embedded model included).
# Extra arguments go to pytest, e.g. `bash scripts/test.sh tests/engine -x`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh --dev
py="${SAIF_VENV:-.venv}/bin/python"
# The browser tests drive Debian's chromium through Playwright (`playwright install` cannot download browsers here):
# install the package when it is missing and we may (root); otherwise those tests skip, saying why.
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium
fi
# Nothing may come from the hub during tests: a miss must fail fast, not retry for 25 s.
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 GRADIO_ANALYTICS_ENABLED=False TOKENIZERS_PARALLELISM=false
"$py" -m ruff check .
"$py" -m ruff format --check .
"$py" -m mypy saif_ui app.py
exec "$py" -m pytest "$@"
