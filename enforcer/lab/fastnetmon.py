"""A real FastNetMon 1.2.4 (Community) in a lab namespace, watching a mirror of one interface.

Started by tests and demos, not by ``lab up``: it captures with ``mirror_afpacket`` on the edge's
upstream-facing interface, bans per host on packets per second, and runs the notify script it is
given. It is configured never to reach outside the machine: ``disable_usage_report = on`` (1.2.4's
default reports usage to an outside server every hour), API, Prometheus, Redis, InfluxDB, Graphite,
ExaBGP and GoBGP off, and every path in its own directory. The namespace has no default route.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from ipaddress import IPv4Network
from pathlib import Path

from .proc import LabError, stop_pid, wait_for

CONFIG = """\
logging_level = info
logging_local_syslog_logging = off
logging_remote_syslog_logging = off
disable_usage_report = on
enable_ban = on
enable_ban_ipv6 = off
process_incoming_traffic = on
process_outgoing_traffic = on
ban_time = {ban_time}
unban_only_if_attack_finished = on
networks_list_path = {dir}/networks_list
white_list_path = {dir}/networks_whitelist
check_period = 1
enable_connection_tracking = off
ban_for_pps = on
ban_for_bandwidth = off
ban_for_flows = off
threshold_pps = {threshold_pps}
mirror_afpacket = on
interfaces = {interface}
average_calculation_time = 5
notify_script_path = {notify}
collect_attack_pcap_dumps = off
redis_enabled = off
mongodb_enabled = off
exabgp = off
gobgp = off
influxdb = off
graphite = off
monitor_local_ip_addresses = off
pid_path = {dir}/fastnetmon.pid
cli_stats_file_path = {dir}/fastnetmon.dat
cli_stats_ipv6_file_path = {dir}/fastnetmon_ipv6.dat
enable_api = off
prometheus = off
"""


def write_config(folder: Path, *, interface: str, networks: Sequence[IPv4Network], notify: Path,
                 threshold_pps: int = 1000, ban_time: int = 10) -> Path:  # fmt: skip
    """``folder/fastnetmon.conf`` and its networks list; returns the config's path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "networks_list").write_text("".join(f"{n}\n" for n in networks))
    (folder / "networks_whitelist").write_text("")
    conf = folder / "fastnetmon.conf"
    conf.write_text(CONFIG.format(dir=folder, interface=interface, notify=notify, threshold_pps=threshold_pps,
                                  ban_time=ban_time))  # fmt: skip
    return conf


@contextmanager
def running_fastnetmon(netns: str, conf: Path, log: Path) -> Iterator[int]:
    """FastNetMon in ``netns`` until the block exits; yields its PID, stopped by that PID."""
    Path("/var/log/fastnetmon_attacks").mkdir(parents=True, exist_ok=True)  # else an ERROR per ban
    proc = subprocess.Popen(["ip", "netns", "exec", netns, "fastnetmon", "--configuration_file", str(conf),
                             "--log_file", str(log), "--disable_pid_logic"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        wait_for("FastNetMon capturing", lambda: proc.poll() is not None or _capturing(log), timeout=30)
        if proc.poll() is not None:
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise LabError(f"fastnetmon exited with {proc.returncode}: {tail}")
        yield proc.pid
    finally:
        stop_pid(proc.pid, marker="fastnetmon", timeout=10)
        proc.wait(5)


def _capturing(log: Path) -> bool:
    return log.exists() and "Start AF_PACKET worker process" in log.read_text()
