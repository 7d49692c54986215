#!/bin/sh
# AdventureWorks end to end: prepare, load, run. Usage: examples/adventureworks/run.sh [--charts DIR] [--data DIR]
# Uses $PYTHON, else the project's .venv, else python3 (growthmap must be installed).
set -e
cd "$(dirname "$0")/../.."
PY="${PYTHON:-}"
if [ -z "$PY" ] && [ -x .venv/bin/python ]; then PY=.venv/bin/python; fi
exec "${PY:-python3}" examples/run_example.py adventureworks "$@"
