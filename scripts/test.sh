#!/usr/bin/env bash
# Everything the test suite needs on a fresh machine, then the suite itself.
# This is the test command README.md documents and .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install --quiet --disable-pip-version-check -e '.[test,dev]'
bash scripts/install-editors.sh
if [ -f scripts/install-vscode-test-deps.sh ]; then
    bash scripts/install-vscode-test-deps.sh
fi
# The gates (config in pyproject.toml); any failure fails the run, before the slow suite.
# The README rule table is checked by tests/test_readme.py.
python3 -m ruff check .
python3 -m ruff format --check .
python3 -m mypy
python3 -m pytest -q "$@"
