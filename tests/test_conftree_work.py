"""The work of parsing a section into a config tree and printing a block of it, counted.

A 100,000-enforcement plan parses some 230,000 desired lines for the merge candidates and
prints each ACL block whole: counted here in calls, never timed.
"""

from __future__ import annotations

from enforcer import conftree
from enforcer.inventory import Platform
from enforcer.platforms import platform_info
from tests.helpers import builtin_calls, python_calls

IOS = platform_info(Platform.IOS).tree
ACL = (
    "interface eth1\n ip access-group ENFORCER-ACL-V4 in\n!\nip access-list extended ENFORCER-ACL-V4\n"
    + "".join(f" {10 * (n + 1)} deny   tcp host 10.0.{n >> 8}.{n & 255} any eq smtp\n" for n in range(1000))
    + " 10010 permit ip any any\n"
)


def test_a_parse_strips_each_line_twice():
    lines = len(ACL.splitlines())
    calls = builtin_calls(conftree._parse, ACL, IOS)
    assert calls["rstrip"] + calls["lstrip"] + calls["strip"] == 2 * lines


def test_a_parse_keeps_the_lines_their_indent_and_the_closers():
    tree = conftree._parse(
        "a\n  b  \n   c\n  d\n!\nend-set\ne\n", IOS.model_copy(update={"atomic_closers": ("end-set",)})
    )
    assert list(tree.children) == ["a", "e"]
    a = tree.children["a"]
    assert list(a.lines()) == ["a", "  b", "   c", "  d", "end-set"] and a.closer == "end-set"
    assert a.children["b"].indent == 2 and list(a.children["b"].children) == ["c"]


def test_an_acl_block_is_printed_in_one_walk_not_a_step_per_entry():
    acl = conftree._parse(ACL, IOS).children["ip access-list extended ENFORCER-ACL-V4"]
    assert python_calls(acl.lines) <= 3
    assert acl.lines() == ACL.splitlines()[3:]


def test_a_parse_makes_its_nodes_without_a_python_call_a_line():
    assert python_calls(conftree._parse, ACL, IOS) <= 3
    tree = conftree._parse(ACL, IOS)
    node = tree.children["interface eth1"]
    assert node == conftree.Node("interface eth1", {"ip access-group ENFORCER-ACL-V4 in": conftree.Node(
        " ip access-group ENFORCER-ACL-V4 in")})  # fmt: skip


def test_the_merge_candidate_of_a_thousand_entry_acl_is_joined_without_a_step_a_line():
    """An offline device's first push: the candidate states the whole ACL; its 1,000 lines are
    parsed, walked and joined in a number of Python calls that does not grow with them."""
    from enforcer import render
    from enforcer.inventory import load_inventory
    from tests.test_templates import EDGE, REPO

    device = load_inventory(REPO / "enforcer" / "example_inventory").device(EDGE[Platform.IOS])
    render.render_push(device, ACL, "", [])  # the platform's differ made once, as in any plan
    with conftree.trees_kept():
        assert python_calls(render.render_push, device, ACL, "", []) < 100
    candidate = render.render_push(device, ACL, "", [])
    assert candidate.count(" deny   tcp host 10.0.") == 1000 and candidate.endswith(
        " 10010 permit ip any any\ninterface eth1\n ip access-group ENFORCER-ACL-V4 in\n"
    )  # the ACL before the binding that references it
