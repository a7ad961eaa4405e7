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
if [ "$#" -gt 0 ]; then
  # A developer's selection (a file, -k …): run just that, in one process.
  .venv/bin/pytest -q -p no:cacheprovider "$@"
  exit $?
fi
# The tests outside the lab run on every core (pytest-xdist, one file per worker: module fixtures stay
# shared; each worker gets its own PostgreSQL database, tests/conftest.py). The lab tests run after, on
# two workers: they mostly wait on daemons, and each worker brings up its own session lab under a unique
# name (namespaces, ports and state directories never collide). Files start longest first, in the order
# of tests/conftest.py, so that no long file starts last and runs alone. ENFORCER_TEST_WORKERS and
# ENFORCER_LAB_WORKERS change the two worker counts.
workers="${ENFORCER_TEST_WORKERS:-$(nproc)}"
lab_workers="${ENFORCER_LAB_WORKERS:-2}"
status=0
.venv/bin/pytest -q -p no:cacheprovider -m "not lab" -n "$workers" --dist loadfile --no-loadscope-reorder || status=$?
.venv/bin/pytest -q -p no:cacheprovider -m lab -n "$lab_workers" --dist loadfile --no-loadscope-reorder || status=$?
exit "$status"
