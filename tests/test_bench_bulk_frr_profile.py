"""bench/bulk_frr.py --profile: the critical-path steps read out of a py-spy speedscope profile."""

from __future__ import annotations

from .helpers import bench_module


def _profile() -> dict:
    """Two threads as py-spy writes them (root frame first, 20 ms samples): the main thread starts
    up for two samples then hands the device over; the push thread waits once for its login."""
    frames = [
        {"name": n, "file": "x.py", "line": 1}
        for n in ("main", "import_store", "each_device", "push_device", "EarlyLogins.use", "FrrDriver.commit_config")
    ]
    main = [[0, 1], [0, 1], [0, 2], [0, 2]]
    push = [[3, 4], [3, 5], [3, 5], [3, 5]]
    return {"shared": {"frames": frames},
            "profiles": [{"name": "main", "samples": main, "weights": [0.02] * 4},
                         {"name": "push", "samples": push, "weights": [0.02] * 4}]}  # fmt: skip


def test_profile_waits_counts_the_login_wait_the_commit_and_the_start_up_before_the_push() -> None:
    waits = bench_module("bulk_frr").profile_waits(_profile())
    assert waits["push waits for the login + read-ahead"] == 0.02
    assert waits["commit exec (router: check, apply, read-back)"] == 0.06
    assert waits["start-up"] == 0.04
    assert waits["push waits for the render"] == 0.0
