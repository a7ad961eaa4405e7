#!/usr/bin/env bash
# The one command that sets up and runs enforcer's whole test suite on a fresh machine (as root):
#   bash scripts/test.sh
# It installs the Debian packages and the virtualenv (scripts/setup.sh), starts a private
# PostgreSQL for the multi-instance store tests, and runs pytest, the live lab tests included
# (they need root: network namespaces, FRR, nftables, Open vSwitch).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
pg=$(bash scripts/postgres.sh start)
eval "$pg"
[ -n "${ENFORCER_TEST_PG:-}" ] || { echo "PostgreSQL did not start: $pg" >&2; exit 1; }
# Stop the database only if this run started it (a developer's running cluster stays up).
[ -z "${ENFORCER_PG_STARTED:-}" ] || trap 'bash scripts/postgres.sh stop' EXIT
.venv/bin/ruff check enforcer tests bench
.venv/bin/pytest -q -p no:cacheprovider "$@"
