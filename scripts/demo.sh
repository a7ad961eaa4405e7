#!/usr/bin/env bash
# The one command that sets up enforcer and runs its main job on a fresh machine:
#   bash scripts/demo.sh        (as root)
# It builds the virtual lab (FRR edge/upstream/customer routers, hosts, nftables, in network
# namespaces), blocks a malware host behind the customer router with a real null route, shows the
# plan, applies it, proves the host is unreachable while its neighbour still answers, then
# unblocks and tears the lab down. Where the lab cannot start (not root, packages missing), it
# says so and runs the same block against the bundled example inventory (seven platforms,
# rendered to files in ./out).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
E=.venv/bin/enforcer
mkdir -p .lab
export ENFORCER_DB="sqlite:///$PWD/.lab/demo.db"
rm -f .lab/demo.db .lab/demo.db-wal .lab/demo.db-shm
LAB=demo

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
node() {  # node ROLE [CUSTOMER?]: first address of the first lab node with that role
  "$E" lab status --name "$LAB" --json | .venv/bin/python -c '
import json, sys
role, want_customer = sys.argv[1], sys.argv[2] == "yes"
nodes = [n for n in json.load(sys.stdin) if n["role"] == role and bool(n.get("customer")) == want_customer]
print(nodes[int(sys.argv[3])]["netns"] if sys.argv[4] == "ns" else nodes[int(sys.argv[3])]["addresses"][0].split("/")[0])
' "$1" "$2" "$3" "$4"
}
reach() { ip netns exec "$1" ping -c 1 -W 1 "$2" >/dev/null 2>&1 && echo reachable || echo UNREACHABLE; }

if [ -z "${ENFORCER_DEMO_NO_LAB:-}" ] && [ "$(id -u)" = 0 ] && "$E" lab up --name "$LAB"; then
  trap '"$E" lab down --name "$LAB" || true' EXIT
  eval "$("$E" lab env --name "$LAB")"
  export ENFORCER_INVENTORY="$PWD/inventory/lab"
  "$E" lab status --name "$LAB"
  victim=$(node host yes 0 addr); neighbour=$(node host yes 1 addr); inet=$(node host no 0 ns)
  say "before: from the internet host, $victim is $(reach "$inet" "$victim"), $neighbour is $(reach "$inet" "$neighbour")"
  say "enforcer block $victim --violation malware-hosting --ttl 10m"
  "$E" block "$victim" --violation malware-hosting --ttl 10m --reason "demo: malware host reported"
  say "enforcer plan (against the live routers)"
  "$E" plan || true
  say "enforcer apply --yes"
  "$E" apply --yes
  for _ in $(seq 1 20); do [ "$(reach "$inet" "$victim")" = UNREACHABLE ] && break; sleep 0.5; done
  say "after: $victim is $(reach "$inet" "$victim"), $neighbour is $(reach "$inet" "$neighbour")"
  "$E" plan --detailed-exitcode >/dev/null && say "second plan: no changes (idempotent)"
  say "enforcer unblock $victim && enforcer apply --yes"
  "$E" unblock "$victim" --reason "demo done"
  "$E" apply --yes
  for _ in $(seq 1 20); do [ "$(reach "$inet" "$victim")" = reachable ] && break; sleep 0.5; done
  say "restored: $victim is $(reach "$inet" "$victim")"
  "$E" history
else
  say "the lab cannot start on this machine (needs root, network namespaces, FRR); using the example inventory instead"
  export ENFORCER_INVENTORY="$PWD/inventory/example" ENFORCER_OUTPUT="$PWD/out"
  say "enforcer block 203.0.113.7 --violation malware-hosting --ttl 1h"
  "$E" block 203.0.113.7 --violation malware-hosting --ttl 1h --reason "demo: malware host reported"
  say "enforcer plan"
  "$E" plan || true
  say "enforcer apply --yes (offline devices: configurations written to ./out)"
  "$E" apply --yes
  ls -l out
fi
