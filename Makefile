.PHONY: setup run api test lint bench

setup:
	@scripts/setup.sh

run: setup
	.venv/bin/streamlit run app.py

api: setup
	.venv/bin/uvicorn backend.main:app --host 127.0.0.1 --port 8000

test: setup
	.venv/bin/python -m pytest

lint: setup
	.venv/bin/ruff check . && .venv/bin/mypy

bench: setup
	.venv/bin/python -m bench
