.PHONY: setup run api test lint lock bench

setup:
	@scripts/setup.sh

run: setup
	.venv/bin/streamlit run app.py

api: setup
	.venv/bin/uvicorn backend.main:app --host 127.0.0.1 --port 8000

test: setup
	.venv/bin/python -m pytest -n 4

lint: setup
	.venv/bin/ruff check . && .venv/bin/mypy && .venv/bin/lint-imports --no-cache && .venv/bin/python scripts/check_lock.py

# Regenerate requirements.txt and requirements-dev.txt (pinned, with hashes) from pyproject.toml's
# ranges. `make lock` keeps every pin that still fits; `LOCK_UPGRADE=1 make lock` takes newer releases.
lock: setup
	scripts/lock.sh

bench: setup
	.venv/bin/python -m bench
