"""The Linux driver against the edge's nftables: ACLs and rate limits measured on real traffic."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from enforcer.drivers.base import CommitRefused, DriverError
from enforcer.drivers.linux import Runner
from enforcer.lab import probes
from enforcer.lab.packets import send_udp, start_udp, udp_counter
from enforcer.lab.proc import pid_alive, wait_for
from enforcer.lab.testing import Lab, candidate_for, enforcement, push
from enforcer.model import ActionKind, Violation, now
from enforcer.push import plan_device, push_plan

pytestmark = pytest.mark.lab


@pytest.fixture
def edge_fw(lab: Lab):
    with lab.driver(platform="nftables") as driver:
        yield driver



def test_spam_acl_drops_smtp_from_the_offender_but_not_http_nor_the_neighbours_smtp(lab: Lab, edge_fw):
    offender, neighbour = lab.customer_hosts("cust1")[:2]
    internet = lab.internet_host
    mail = probes.address(internet)
    acl = enforcement(ActionKind.ACL, probes.host_prefix(offender), Violation.SPAM, params={"protocol": "tcp", "ports": (25,)})
    with probes.tcp_listener(internet, 25), probes.tcp_listener(internet, 80):
        assert probes.tcp_connect(offender, mail, 25)
        desired = push(edge_fw, [acl], lab.inventory)
        assert edge_fw.get_managed_section() == desired

        assert not probes.tcp_connect(offender, mail, 25, expect=False)
        assert probes.tcp_connect(offender, mail, 80)
        assert probes.tcp_connect(neighbour, mail, 25)

        edge_fw.rollback()
        assert probes.tcp_connect(offender, mail, 25)


def test_rate_limit_holds_udp_from_the_offender_to_the_configured_rate(lab: Lab, edge_fw):
    offender = lab.customer_hosts("cust1")[0]
    rate = 4_000_000
    limit = enforcement(
        ActionKind.RATE_LIMIT, probes.host_prefix(offender), Violation.EXCESSIVE_BANDWIDTH, params={"rate_bps": rate}
    )
    desired = push(edge_fw, [limit], lab.inventory)

    received = probes.udp_throughput(offender, lab.internet_host, offered_bps=4 * rate, seconds=3)
    assert edge_fw.get_managed_section() == desired, "the table changed under the measurement"
    assert 0.75 * rate <= received <= 1.25 * rate, f"received {received / 1e6:.2f} Mbit/s for a {rate / 1e6} limit"

    edge_fw.rollback()
    unlimited = probes.udp_throughput(offender, lab.internet_host, offered_bps=4 * rate, seconds=2)
    assert unlimited > 1.5 * rate


def test_compare_is_a_diff_against_the_live_table_and_empty_once_applied(lab: Lab, edge_fw):
    target = probes.host_prefix(lab.customer_hosts("cust1")[0])
    enf = [enforcement(ActionKind.ACL, target, Violation.SCANNING)]
    _, candidate = candidate_for(edge_fw, enf, lab.inventory)
    edge_fw.load_merge_candidate(candidate)
    diff = edge_fw.compare_config()
    assert "+table inet enforcer {" in diff and probes.address(lab.customer_hosts("cust1")[0]) in diff
    edge_fw.commit_config()

    _, again = candidate_for(edge_fw, enf, lab.inventory)
    edge_fw.load_merge_candidate(again)
    assert edge_fw.compare_config() == ""


def test_invalid_ruleset_is_refused_and_the_live_table_is_untouched(lab: Lab, edge_fw):
    push(edge_fw, [enforcement(ActionKind.ACL, probes.host_prefix(lab.customer_hosts("cust1")[0]))], lab.inventory)
    before = edge_fw.get_config()
    with pytest.raises(DriverError, match="nft -c") as err:
        edge_fw.load_merge_candidate("table inet enforcer {\n\tchain forward {\n\t\tbogus\n\t}\n}\n")
    assert err.value.device == edge_fw.device.name
    assert edge_fw.get_config() == before


def test_commit_with_revert_in_restores_the_previous_table_unless_confirmed(lab: Lab, edge_fw):
    first = push(edge_fw, [enforcement(ActionKind.ACL, probes.host_prefix(lab.customer_hosts("cust1")[0]))], lab.inventory)
    second = [enforcement(ActionKind.ACL, probes.host_prefix(lab.customer_hosts("cust1")[1]))]
    push(edge_fw, second, lab.inventory, revert_in=2)
    assert edge_fw.has_pending_commit()

    back = probes.eventually(edge_fw.get_managed_section, lambda s: s == first, 20)
    assert back == first
    assert not edge_fw.has_pending_commit()

    # Confirmed: the device's timer process is gone, not merely forgotten.
    push(edge_fw, second, lab.inventory, revert_in=30)
    timer = int((Path(edge_fw.state_dir) / "pending").read_text())
    assert pid_alive(timer)
    edge_fw.confirm_commit()
    assert not edge_fw.has_pending_commit()
    assert probes.eventually(lambda: not pid_alive(timer), bool, 5)
    assert probes.address(lab.customer_hosts("cust1")[1]) in edge_fw.get_managed_section()


def test_a_rollback_after_the_revert_timer_already_restored_the_table_succeeds(lab: Lab, edge_fw):
    """The checkpoint deletes the set the commit added, so it applies once; a rollback that comes after
    the timer (a slow confirm, then the undo) finds the table restored and says so, not an error."""
    hosts = lab.customer_hosts("cust1")
    first = push(edge_fw, [enforcement(ActionKind.ACL, probes.host_prefix(hosts[0]))], lab.inventory)
    ssh = enforcement(ActionKind.ACL, probes.host_prefix(hosts[1]), Violation.SCANNING,
                      params={"protocol": "tcp", "ports": (22,)})
    assert "acl-src-tcp-22-v4" in push(edge_fw, [ssh], lab.inventory, revert_in=2)
    assert probes.eventually(edge_fw.get_managed_section, lambda s: s == first, 20) == first
    edge_fw.rollback()
    assert edge_fw.get_managed_section() == first


def test_a_second_commit_is_refused_while_a_commit_confirm_is_pending_and_the_first_timer_survives(
    lab: Lab, edge_fw
):
    # NAPALM's contract (issue 10.3): a second pusher must not cancel the first one's revert.
    hosts = lab.customer_hosts("cust1")
    first = push(edge_fw, [enforcement(ActionKind.ACL, probes.host_prefix(hosts[0]))], lab.inventory, revert_in=30)
    timer = int((Path(edge_fw.state_dir) / "pending").read_text())
    with pytest.raises(CommitRefused, match="commit-confirm is pending") as err:
        push(edge_fw, [enforcement(ActionKind.ACL, probes.host_prefix(hosts[1]))], lab.inventory, revert_in=30)
    assert err.value.device == edge_fw.device.name
    assert pid_alive(timer) and int((Path(edge_fw.state_dir) / "pending").read_text()) == timer
    assert edge_fw.get_managed_section() == first


def test_a_firewall_whose_namespace_is_gone_fails_with_an_error_naming_it(lab: Lab):
    from enforcer.drivers import get_driver

    gone = lab.device(platform="nftables").model_copy(update={"name": "fw-gone", "netns": f"{lab.name}-nowhere"})
    with pytest.raises(DriverError) as err:
        get_driver(gone).open()
    assert err.value.device == "fw-gone"


@contextmanager
def _flood(blocked, blocked_ip: str, inet_ip: str, port: int, what: str) -> Iterator[dict[str, int]]:
    """An unpaced UDP stream from ``blocked`` to the internet host while the block runs; the dict
    it yields holds ``sent`` (packets the source sent meanwhile) once the block is done. The stream
    must outlast the block's ``what``, or the test proves nothing."""
    stream = start_udp(blocked, blocked_ip, inet_ip, port, count=50_000_000, gap=0)
    counts: dict[str, int] = {}
    try:
        sent_before = probes.tx_packets(blocked)
        wait_for("the flood is flowing", lambda: probes.tx_packets(blocked) > sent_before + 10_000, 15)
        yield counts
        assert stream.running(), f"the flood ended before the {what} did: it proves nothing"
        counts["sent"] = probes.tx_packets(blocked) - sent_before
    finally:
        stream.proc.terminate()
        stream.proc.wait(timeout=10)


def test_forty_restatements_and_rollbacks_under_a_flood_never_let_a_blocked_packet_through(lab: Lab, edge_fw):
    """The table is emptied and restated in place (enforcer/nftables.py). Deleting and re-creating it in
    the same transaction let about one packet per replacement through a named interval set on this
    kernel (docs/lab-facts.md): an unpaced stream from a blocked source, forty replacements that add
    and drop other targets, a second set and the null-route set, every fifth one rolled back."""
    blocked, other = lab.customer_hosts("cust1")[:2]
    blocked_ip, other_ip = probes.address(blocked), probes.address(other)
    inet_ip = probes.address(lab.internet_host)
    port = 5556
    acl = enforcement(ActionKind.ACL, probes.host_prefix(blocked), Violation.SCANNING)
    extra = [enforcement(ActionKind.ACL, f"198.18.{i}.0/24", Violation.SCANNING) for i in range(8)]
    ssh = enforcement(ActionKind.ACL, "198.19.0.1", Violation.SCANNING, params={"protocol": "tcp", "ports": (22,)})
    null = enforcement(ActionKind.NULL_ROUTE, "198.19.1.1", Violation.MALWARE_HOSTING)
    with udp_counter(lab.internet_host, inet_ip, port) as received:
        send_udp(blocked, blocked_ip, inet_ip, port, 3)
        wait_for("the unblocked path carries datagrams", lambda: received.from_(blocked_ip) == 3, 15)
        desired = push(edge_fw, [acl], lab.inventory)
        with _flood(blocked, blocked_ip, inet_ip, port, "restatements") as flood:
            for i in range(40):
                now = [acl, *extra[: i % 9], *([ssh] if i % 3 else []), *([null] if i % 2 else [])]
                if i % 5 == 4:
                    push(edge_fw, now, lab.inventory, revert_in=60)
                    edge_fw.rollback()
                else:
                    desired = push(edge_fw, now, lab.inventory)
        sent = flood["sent"]
        send_udp(other, other_ip, inet_ip, port, 3)  # behind the flood on the same path
        wait_for("the marker datagrams", lambda: received.from_(other_ip) == 3, 15)
    assert sent > 100_000
    assert received.from_(blocked_ip) == 3, f"{received.from_(blocked_ip) - 3} blocked packets got through"
    # Emptied in place, not accumulated: the table is exactly the last restatement.
    assert edge_fw.get_managed_section() == desired


def test_forty_element_changes_and_rollbacks_under_a_flood_never_let_a_blocked_packet_through(lab: Lab, edge_fw):
    """One more block, one unblock: the candidate is those elements alone (``add element`` /
    ``delete element``, no flush, enforcer/nftables.py), gap-free because nothing the table keeps is
    ever removed. An unpaced stream from a blocked source while forty pushes add and drop other
    elements of the very set it is in (and change its own element's comment), every fifth rolled
    back: not one packet through, each candidate the changed elements only, and a rollback puts
    the table back exactly."""
    blocked, other = lab.customer_hosts("cust1")[:2]
    blocked_ip, other_ip = probes.address(blocked), probes.address(other)
    inet_ip = probes.address(lab.internet_host)
    port = 5557
    acl = enforcement(ActionKind.ACL, probes.host_prefix(blocked), Violation.SCANNING)
    twin = enforcement(ActionKind.ACL, probes.host_prefix(blocked), Violation.SCANNING)  # same element, new ids
    others = [enforcement(ActionKind.ACL, f"198.18.{i}.0/24", Violation.SCANNING) for i in range(200)]
    sizes = []
    with udp_counter(lab.internet_host, inet_ip, port) as received:
        send_udp(blocked, blocked_ip, inet_ip, port, 3)
        wait_for("the unblocked path carries datagrams", lambda: received.from_(blocked_ip) == 3, 15)
        desired = push(edge_fw, [acl, *others[:100]], lab.inventory)
        with _flood(blocked, blocked_ip, inet_ip, port, "pushes") as flood:
            for i in range(40):
                now_ = [acl, *([twin] if i % 4 == 1 else []), *others[i % 7: 101 + i]]
                before = desired
                desired, candidate = candidate_for(edge_fw, now_, lab.inventory)
                assert candidate.startswith(("add element", "delete element")) and "flush" not in candidate, candidate
                sizes.append(sum(line.count(", ") + 1 for line in candidate.splitlines()))  # elements sent
                edge_fw.load_merge_candidate(candidate)
                edge_fw.commit_config(revert_in=60 if i % 5 == 4 else None)
                if i % 5 == 4:
                    edge_fw.rollback()
                    assert edge_fw.get_managed_section() == before, "the rollback left the table changed"
                    desired = before
        sent = flood["sent"]
        send_udp(other, other_ip, inet_ip, port, 3)  # behind the flood on the same path
        wait_for("the marker datagrams", lambda: received.from_(other_ip) == 3, 15)
    assert sent > 100_000
    assert received.from_(blocked_ip) == 3, f"{received.from_(blocked_ip) - 3} blocked packets got through"
    assert edge_fw.get_managed_section() == desired
    assert max(sizes) <= 12, sizes  # the changed elements, never the 100-odd the set holds


def test_the_replace_gap_bench_runs_both_ways_and_cleans_up():
    """bench/nft_replace_gap.py keeps working (its figures are never asserted): both rows printed, its
    namespaces gone after."""
    import subprocess
    import sys

    bench = Path(__file__).resolve().parents[2] / "bench" / "nft_replace_gap.py"
    out = subprocess.run([sys.executable, str(bench), "--replacements", "3"], capture_output=True, text=True,
                         timeout=300, check=True).stdout
    rows = [line.split()[0] for line in out.splitlines()[1:]]
    assert rows == ["delete", "in-place"], out
    assert "gap" not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout


def test_the_nft_process_cost_bench_prints_every_command_for_the_three_tables():
    """bench/nft_process_cost.py keeps working (its figures are never asserted): a row per nft command
    with a cell per table (its namespace holders are stopped by PID in its own finally)."""
    import subprocess
    import sys

    bench = Path(__file__).resolve().parents[2] / "bench" / "nft_process_cost.py"
    done = subprocess.run([sys.executable, str(bench), "--elements", "50", "--samples", "1"], capture_output=True,
                          text=True, timeout=300, check=True)  # fmt: skip
    rows = [line for line in done.stdout.splitlines() if line.startswith("nft ")]
    assert len(rows) == 9 and all(line.count("x") >= 3 for line in rows), done.stdout


class _Counting(Runner):
    """The driver's own runner, each command it sends recorded (what a warm push costs the device)."""

    def __init__(self, inner: Runner):
        self.inner, self.sent, self.replies = inner, [], []

    def run(self, argv, stdin=None, timeout=30.0):
        self.sent.append(argv)
        reply = self.inner.run(argv, stdin=stdin, timeout=timeout)
        self.replies.append(reply[1])
        return reply


def _edge_nft(lab: Lab, ruleset: str) -> None:
    subprocess.run(["ip", "netns", "exec", probes.netns_of(lab.edge), "nft", "-f", "-"], input=ruleset, text=True,
                   check=True)


def test_a_warm_push_of_elements_is_two_device_commands_and_no_read_outside_the_commit(lab: Lab, edge_fw):
    """serve's worker between full passes (reuse_reads, no pending question): the plan stands on the
    last push's read-back, the commit verifies it on the device and prints the new read-back. The
    device gets the commit script and the confirm: no nft -c of an element-only candidate (the
    commit's nft -f is its check, one transaction), no prediction of the whole table, no read
    before nor after the commit."""
    hosts = lab.customer_hosts("cust1")
    inv, dev = lab.inventory, edge_fw.device
    first = [enforcement(ActionKind.ACL, probes.host_prefix(hosts[0])),
             *(enforcement(ActionKind.NULL_ROUTE, f"198.18.0.{i}", Violation.MALWARE_HOSTING) for i in range(1, 50))]
    assert push_plan(edge_fw, plan_device(dev, first, inv, edge_fw, now(), settle=True)).ok
    counting = edge_fw.runner = _Counting(edge_fw.runner)
    edge_fw.reuse_reads(True)
    more = [*first, enforcement(ActionKind.ACL, probes.host_prefix(hosts[1])),
            enforcement(ActionKind.NULL_ROUTE, "198.18.0.77", Violation.MALWARE_HOSTING)]
    plan = plan_device(dev, more, inv, edge_fw, now(), settle=True, ask_pending=False)
    result = push_plan(edge_fw, plan)
    assert result.ok and result.changed, result
    assert plan.candidate.startswith(("add element", "delete element")), plan.candidate
    assert [argv[:2] for argv in counting.sent] == [["sh", "-c"], ["sh", "-c"]]
    # The commit's read-back is the stateless listing (nft -s): the counters' numbers, which the
    # plan leaves out anyway, are not sent back; its digest is still the one the next check computes.
    readback = counting.replies[0]
    assert "198.18.0.77 counter comment" in readback and "packets" not in readback, readback[:300]
    again = [*more, enforcement(ActionKind.NULL_ROUTE, "198.18.0.78", Violation.MALWARE_HOSTING)]
    result = push_plan(edge_fw, plan_device(dev, again, inv, edge_fw, now(), settle=True, ask_pending=False))
    assert result.ok and result.changed, result  # planned on that read-back: not refused as stale
    edge_fw.reuse_reads(False)
    assert "198.18.0.78 " in edge_fw.get_managed_section()  # read for real: the device holds it


def test_an_element_candidate_nft_refuses_is_refused_at_commit_and_applies_nothing(lab: Lab, edge_fw):
    """An element-only candidate is not checked with nft -c at load: the commit's nft -f is the check.
    One it refuses (an IPv6 address into an IPv4 set, beside a good element) applies nothing at all,
    starts no revert timer, and says so; the next good candidate commits as usual."""
    inv, dev = lab.inventory, edge_fw.device
    first = [enforcement(ActionKind.NULL_ROUTE, "198.18.2.1", Violation.MALWARE_HOSTING)]
    assert push_plan(edge_fw, plan_device(dev, first, inv, edge_fw, now(), settle=True)).ok
    before = edge_fw.get_managed_section()
    edge_fw.load_merge_candidate('add element inet enforcer null-v4 { 198.18.2.2 counter comment "8 x" }\n'
                                 "add element inet enforcer null-v4 { 2001:db8::1 }\n")
    with pytest.raises(DriverError, match="refused by nft -f, nothing applied"):
        edge_fw.commit_config(revert_in=60)
    assert not edge_fw.has_pending_commit()
    assert edge_fw.get_managed_section() == before
    more = [*first, enforcement(ActionKind.NULL_ROUTE, "198.18.2.3", Violation.MALWARE_HOSTING)]
    result = push_plan(edge_fw, plan_device(dev, more, inv, edge_fw, now(), settle=True))
    assert result.ok and "198.18.2.3 " in edge_fw.get_managed_section(), result


def test_a_warm_push_planned_on_a_table_changed_since_is_refused_and_applies_nothing(lab: Lab, edge_fw):
    """The reused read-back is verified on the device before anything is applied: a change made by hand
    since (an element added to enforcer's set) refuses the commit, and the table keeps it."""
    inv, dev = lab.inventory, edge_fw.device
    first = [enforcement(ActionKind.NULL_ROUTE, "198.18.1.1", Violation.MALWARE_HOSTING)]
    assert push_plan(edge_fw, plan_device(dev, first, inv, edge_fw, now(), settle=True)).ok
    _edge_nft(lab, "add element inet enforcer null-v4 { 198.18.1.99 }\n")
    edge_fw.reuse_reads(True)
    more = [*first, enforcement(ActionKind.NULL_ROUTE, "198.18.1.2", Violation.MALWARE_HOSTING)]
    result = push_plan(edge_fw, plan_device(dev, more, inv, edge_fw, now(), settle=True, ask_pending=False))
    assert not result.ok and "table changed since" in (result.error or ""), result
    edge_fw.reuse_reads(False)
    live = edge_fw.get_managed_section()
    assert "198.18.1.99" in live and "198.18.1.2 " not in live


def test_compare_predicts_over_a_table_whose_rules_and_hooks_are_bound_to_interfaces(lab: Lab, edge_fw):
    """nft resolves ``iif`` to an interface index when it loads a listing; the throwaway namespace of the
    prediction has none of the device's interfaces, so the listing itself was refused ("Interface does
    not exist") and every compare on such a table failed. A hook's ``device`` likewise names one."""
    iface = edge_fw.device.attach_interfaces[0]
    push(edge_fw, [], lab.inventory)
    _edge_nft(lab, f'table inet enforcer {{\n\tchain ingress-{iface} {{\n\t\ttype filter hook ingress device "{iface}" '
                   f'priority filter; policy accept;\n\t}}\n\tchain forward {{\n\t\ttype filter hook forward priority '
                   f'filter - 10; policy accept;\n\t\tiif "{iface}" counter drop\n\t}}\n}}\n')
    target = probes.host_prefix(lab.customer_hosts("cust1")[0])
    _, candidate = candidate_for(edge_fw, [enforcement(ActionKind.ACL, target, Violation.SCANNING)], lab.inventory)
    edge_fw.load_merge_candidate(candidate)
    diff = edge_fw.compare_config()
    assert f'-\t\tiif "{iface}" counter drop' in diff
    assert probes.address(lab.customer_hosts("cust1")[0]) in diff


def test_an_acl_added_to_a_table_that_already_holds_a_null_route_set_reads_back_equal_and_plans_to_nothing(
        lab: Lab, edge_fw):
    """nft lists a kind's objects in creation order and the table is kept in place, so the null-route
    set made first is listed before the ACL's set the render prints first. Before, the read-back
    differed, the push rolled back, and every later push to that device did the same."""
    inv, dev, hosts = lab.inventory, edge_fw.device, lab.customer_hosts("cust1")
    null = [enforcement(ActionKind.NULL_ROUTE, "198.18.2.1", Violation.MALWARE_HOSTING)]
    assert push_plan(edge_fw, plan_device(dev, null, inv, edge_fw, now(), settle=True)).ok
    both = [*null, enforcement(ActionKind.ACL, probes.host_prefix(hosts[0]), Violation.SPAM,
                               params={"protocol": "tcp", "ports": (25,)})]
    result = push_plan(edge_fw, plan_device(dev, both, inv, edge_fw, now(), settle=True))
    assert result.ok and result.changed, result
    again = plan_device(dev, both, inv, edge_fw, now(), settle=True)
    assert not again.has_changes, again.diff
    listing = edge_fw.get_config()
    assert listing.index("set null-v4") < listing.index("set acl-src-tcp-25-v4")  # nft's own order, kept
