"""The Linux driver's parse of ``nft list table`` (normalize, the managed section, nft's object
order) on listings nft 1.0.6 printed (tests/fixtures/nftables/README.md): the section it gives,
pinned as the parse gave it before it became one pass, and the work it does at 10,000 elements."""

from __future__ import annotations

from pathlib import Path

import pytest

from enforcer import nftables
from enforcer.drivers import linux
from enforcer.inventory import Platform
from enforcer.render import platform_info

from .helpers import python_calls

FIXTURES = Path(__file__).parent / "fixtures" / "nftables"
INFO = platform_info(Platform.NFTABLES)


def section(listing: str) -> str:
    """What ``LinuxDriver.get_managed_section`` makes of a listing."""
    return nftables.canonical(linux._managed(linux.normalize(listing), INFO))


@pytest.mark.parametrize(
    ("listing", "expected"),
    [
        ("listing.nft", "listing-section.nft"),
        ("listing-s.nft", "listing-section.nft"),
        ("after.nft", "after-section.nft"),
        ("after-s.nft", "after-section.nft"),
    ],
)
def test_a_real_listing_parses_to_the_section_it_always_did(listing, expected):
    """Stateful (``counter packets 0 bytes 0``) or stateless (``nft -s``), blank lines between objects."""
    text = (FIXTURES / listing).read_text()
    assert section(text) == (FIXTURES / expected).read_text()
    assert "counter packets" not in section(text) and "\n\n" not in section(text)


def test_the_listing_is_the_section_only_when_it_is_the_managed_table_alone():
    """Another table beside it, or the marker comment inside: the managed section is cut out."""
    text = (FIXTURES / "listing-s.nft").read_text()
    whole = (FIXTURES / "listing-section.nft").read_text()
    assert section("table ip operator {\n\tchain input {\n\t}\n}\n" + text) == whole
    marked = text.replace("\tchain forward {", f"\t{INFO.comment}\n\tchain forward {{")
    normalized = linux.normalize(marked)
    assert linux._managed(normalized, INFO) == linux._managed_by_lines(normalized, INFO)
    assert linux._managed(normalized, INFO) != normalized, "the marker line cuts the section"
    assert section("") == "" and section("\n") == ""


def test_objects_listed_out_of_nfts_order_are_put_in_it_and_their_lines_kept():
    text = (FIXTURES / "listing-section.nft").read_text()
    chain_at = text.index("\tchain forward {")
    chain = text[chain_at : text.rindex("}\n")]
    moved = text.replace(chain, "").replace("table inet enforcer {\n", "table inet enforcer {\n" + chain, 1)
    assert moved != text and nftables.canonical(moved) == text
    assert nftables.canonical(moved.replace("\n", "\r\n")) == nftables._canonical_lines(moved.replace("\n", "\r\n"))


def test_a_ten_thousand_element_read_back_is_parsed_without_a_python_step_per_line():
    """5,000 element lines, as nft -s lists them: the managed section and nft's object order are
    found by passes in C (the line-by-line parse made one generator step per line, twice)."""
    hosts = [f'100.64.{i // 250}.{i % 250 + 1} counter comment "{i} malware-hosting"' for i in range(10_000)]
    rows = ",\n\t\t\t     ".join(", ".join(hosts[i : i + 2]) for i in range(0, len(hosts), 2))
    text = (FIXTURES / "listing-s.nft").read_text()
    start = text.index("elements = { ", text.index("\tset null-v4 {")) + len("elements = { ")
    big = text[:start] + rows + text[text.index(" }\n", start) :]
    normalized = linux.normalize(big)
    assert python_calls(linux._managed, normalized, INFO) < 100
    managed = linux._managed(normalized, INFO)
    assert managed == normalized == linux._managed_by_lines(normalized, INFO)
    assert python_calls(nftables.canonical, managed) < 100
    assert nftables.canonical(managed) == nftables._canonical_lines(managed) == managed
