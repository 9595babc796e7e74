#!/usr/bin/env bash
# The cross-language benchmark in one command (see BENCHMARKS.md): builds every path, runs
# interleaved rounds on the same keys and tokens, counts instructions with callgrind for the
# gate, and prints the report (also written to target/bench/report.md). Needs cargo, cc, c++,
# go, python3 (with venv and network access to PyPI for PyJWT) and valgrind.
#
#   bench/run.sh [--rounds N] [--millis MS] [--quick]
set -euo pipefail
exec python3 "$(dirname "$0")/run.py" "$@"
