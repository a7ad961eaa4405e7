#!/usr/bin/env bash
# CLI start-up (issue 12.5): hyperfine of `enforcer --help`, `enforcer block --dry-run`, `enforcer block`
# (stores the decision), `enforcer hook fastnetmon --url` and `enforcer block --url`, against `python -c pass` measured in the
# same run (the interpreter's own floor). Prints each median and its ratio to the floor.
#
#   bench/cli_startup.sh [--runs N] [--warmup N] [--bytecode]
#
# Two rows time what `enforcer block` on the local store cannot start without, in the same run: the import
# of SQLAlchemy alone, and of every library it needs (SQLAlchemy with its ORM, pydantic, Rich, PyYAML):
# the floor any local `block` pays before enforcer's own code runs (issue 12.5's 300 ms is judged
# against it in docs/benchmarks.md). A third, `import enforcer.service`, is what `enforcer render`, `plan`
# and `apply` import before their first step (the read-only half: no intake stack, tests/test_cli_imports.py).
#
# Each row also prints the mean user+sys CPU time (hyperfine's), which the machine's load moves less
# than the wall time. `--bytecode`: every command runs with its bytecode cached (in a private
# PYTHONPYCACHEPREFIX, written by an untimed run first), as a `pip install` leaves an installed
# enforcer; without it, a checkout with PYTHONDONTWRITEBYTECODE=1 (as on the shared test machine) and
# an editable install compiles enforcer's own modules at every start.
#
# `block --url` posts to the same stub (which answers a created decision), so again the client is timed.
# `hook --url` reads an empty pipe as stdin (a ban from a shell) and posts to a loopback stub that answers `{"results": []}` as `enforcer serve` does
# for a call that changes nothing, so what is timed is the client: start-up, parse, one POST.
# `block --dry-run` decides against a SQLite store and the example inventory; `block` also stores
# (one write transaction, fsync included).
set -euo pipefail

RUNS=10
WARMUP=2
BYTECODE=""
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --bytecode) BYTECODE=1; shift ;;
    *) echo "error: $1: unknown option (--runs N, --warmup N, --bytecode)" >&2; exit 2 ;;
  esac
done

HERE="$(cd "$(dirname "$0")/.." && pwd)"
PY="${PYTHON:-$HERE/.venv/bin/python}"
ENF="$(dirname "$PY")/enforcer"
command -v hyperfine >/dev/null || { echo "error: hyperfine: not installed (apt-get install hyperfine)" >&2; exit 2; }

WORK="$(mktemp -d)"
STUB_PID=""
cleanup() { [ -n "$STUB_PID" ] && kill "$STUB_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

# The stub prints its port, then serves until killed.
"$PY" - >"$WORK/port" <<'EOF' &
import http.server, json, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        # a hook call that changed nothing, and (for block --url) a decision created with no enforcement
        body = json.dumps({"results": [], "decision_id": 1, "created": True, "enforcements": []}).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
EOF
STUB_PID=$!
for _ in $(seq 100); do [ -s "$WORK/port" ] && break; sleep 0.1; done
PORT="$(cat "$WORK/port")"

export ENFORCER_DB="sqlite:///$WORK/bench.db" ENFORCER_OUTPUT="$WORK/out" ENFORCER_TOKEN=bench
if [ -n "$BYTECODE" ]; then
  export PYTHONPYCACHEPREFIX="$WORK/pycache"
  unset PYTHONDONTWRITEBYTECODE
  # The untimed calls below (and --help, the hook) write every module's bytecode once.
  "$ENF" --help >/dev/null
  printf '' | "$ENF" hook fastnetmon --url "http://127.0.0.1:$PORT" 198.51.100.7 incoming 250000 ban >/dev/null
fi
# The store exists before the first timed run, as on a NOC box (no run pays for creating it).
"$ENF" block 198.51.100.7 -v scanning --dry-run >/dev/null
# `block` stores a decision each run: the untimed --prepare before each run ends the last one, so
# every timed run creates (none answers with the decision already in force).
hyperfine --style basic --runs "$RUNS" --warmup "$WARMUP" --export-json "$WORK/out.json" \
  --prepare true --prepare true --prepare true --prepare true --prepare true --prepare true \
  --prepare "$ENF unblock 198.51.100.9 --reason bench >/dev/null 2>&1 || true" --prepare true --prepare true \
  -n "python -c pass" "$PY -c pass" \
  -n "import sqlalchemy" "$PY -c 'import sqlalchemy'" \
  -n "import block's libraries" "$PY -c 'import sqlalchemy.orm, pydantic.main, rich.table, yaml'" \
  -n "import enforcer.service" "$PY -c 'import enforcer.service'" \
  -n "enforcer --help" "$ENF --help" \
  -n "enforcer block --dry-run" "$ENF block 198.51.100.7 -v scanning --dry-run" \
  -n "enforcer block" "$ENF block 198.51.100.9 -v scanning --reason bench" \
  -n "enforcer hook fastnetmon --url" "printf '' | $ENF hook fastnetmon --url http://127.0.0.1:$PORT 198.51.100.7 incoming 250000 ban" \
  -n "enforcer block --url" "$ENF block 198.51.100.9 -v scanning --url http://127.0.0.1:$PORT" \
  >"$WORK/hyperfine.log"

"$PY" - "$WORK/out.json" <<'EOF'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
floor = results[0]["median"]
print(f"{'command':34} {'median':>9} {'min':>9} {'max':>9} {'user+sys':>9}  ratio to python -c pass"
      "  (target < 300 ms)")
for r in results:
    cpu = (r["user"] + r["system"]) * 1000
    print(f"{r['command']:34} {r['median'] * 1000:7.0f}ms {r['min'] * 1000:7.0f}ms {r['max'] * 1000:7.0f}ms"
          f" {cpu:7.0f}ms  {r['median'] / floor:5.1f}x")
EOF
