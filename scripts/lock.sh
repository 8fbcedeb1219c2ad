#!/usr/bin/env bash
# `make lock`: regenerate requirements-dev.txt and requirements.txt from the ranges in pyproject.toml,
# every package (transitive ones included) pinned == with its hashes. Run it after changing a range
# in pyproject.toml or to take newer releases on purpose; commit the two files with the change.
set -euo pipefail
cd "$(dirname "$0")/.."
UV=${UV:-.venv/bin/uv}
common=(--generate-hashes --python-version 3.11 --custom-compile-command "make lock" --quiet)
# Tests and tools first (the whole set), then what running needs, held to the same versions.
"$UV" pip compile pyproject.toml --extra dev "${common[@]}" ${LOCK_UPGRADE:+--upgrade} -o requirements-dev.txt
"$UV" pip compile pyproject.toml "${common[@]}" -c requirements-dev.txt -o requirements.txt
echo "lock: requirements-dev.txt ($(grep -c '==' requirements-dev.txt) packages), requirements.txt ($(grep -c '==' requirements.txt) packages)"
