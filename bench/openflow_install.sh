#!/bin/sh
# Run the OpenFlow install benchmark (root). Creates the baseline virtualenv (os-ken 1.4.1, the last
# release with ofctl_rest) in bench/.venv-baseline on first use; extra arguments go to the benchmark,
# e.g. `bench/openflow_install.sh --flows 10000 --samples 50`.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
if [ ! -x "$here/.venv-baseline/bin/python" ]; then
    python3 -m venv "$here/.venv-baseline"
    "$here/.venv-baseline/bin/pip" install --quiet "os-ken==1.4.1"
fi
exec "$repo/.venv/bin/python" -W ignore "$here/openflow_install.py" "$@"
