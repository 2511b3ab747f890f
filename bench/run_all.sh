#!/bin/sh
# Yaofang benchmarks: generate + lookup + movements on SQLite and PostgreSQL, then bench/RESULTS.md (see bench/README.md).
set -e
cd "$(dirname "$0")/.."
exec "${PYTHON:-.venv/bin/python}" bench/run_all.py "$@"
