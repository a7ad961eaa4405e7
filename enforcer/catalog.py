"""The AUP violation categories enforcer enforces, each grounded in a clause of a seed policy.

The seed policies are five public Acceptable Use Policies (``shared/seeds/``). Each category cites
the provider file and quotes the clause, so an audit entry can say *which rule* a block enforces.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from .model import Violation


class Clause(BaseModel):
    model_config = ConfigDict(frozen=True)
    seed: str
    provider: str
    text: str

    def cite(self) -> str:
        return f"{self.provider} ({self.seed}): “{self.text}”"


class Category(BaseModel):
    model_config = ConfigDict(frozen=True)
    violation: Violation
    summary: str
    clauses: tuple[Clause, ...]


# The seed files are kept in docs/seeds/ (the public AUP texts, verbatim); tests/test_catalog.py
# checks that every clause below is quoted from them word for word.
NANOSEK = ("000_128059debbbbf80c.txt", "Nanosek Ltd.")
SECURE_PACKET = ("001_f1f8c584c08411bb.txt", "Secure Packet")
HEXTET = ("002_a352c51735899be5.txt", "Hextet Systems (AS14866)")
NORTH = ("003_377b51e49a525a5b.txt", "North Commerce and Distribution / ofsecman.io")
NEC = ("004_38179cb6018c81b4.txt", "NEC Nederland")


def _c(src: tuple[str, str], text: str) -> Clause:
    return Clause(seed=src[0], provider=src[1], text=text)


CATALOG: dict[Violation, Category] = {
    c.violation: c
    for c in (
        Category(
            violation=Violation.SPAM,
            summary="Unsolicited bulk email sent from a customer host",
            clauses=(
                _c(NANOSEK, "Users shall not transmit unsolicited e-mail messages, including, without limitation, "
                   "unsolicited bulk email, where such emails could be expected to provoke complaints (“spam”)."),
                _c(HEXTET, "Sending Unsolicited Bulk Email (\"UBE\", \"spam\"). The sending of any form of "
                   "Unsolicited Bulk Email through Hextet Systems' servers is prohibited."),
                _c(NORTH, "Our Products must not be used to send unsolicited bulk or commercial messages "
                   "(\"spam\") in violation of applicable laws."),
            ),
        ),
        Category(
            violation=Violation.DDOS_OUTBOUND,
            summary="A customer host sourcing a denial-of-service attack or flood",
            clauses=(
                _c(HEXTET, "Knowingly engage in any activities designed to harass, or that will cause a "
                   "denial-of-service (e.g., synchronized number sequence attacks) to any other user"),
                _c(NORTH, "Enabling spam or engaging in activities such as network sniffing, packet spoofing, "
                   "flooding, mail-bombing, or denial-of-service attacks."),
                _c(NEC, "attempting to interfere with or denying service to any user or host (e.g., denial of "
                   "service attacks)"),
            ),
        ),
        Category(
            violation=Violation.DDOS_VICTIM,
            summary="A customer address under attack; blackholed upstream to protect everyone else",
            clauses=(
                _c(NANOSEK, "Users may not use the Services to engage in any activities that may interfere with "
                   "the ability of others to access or use the Services, network or the internet."),
                _c(NORTH, "Interfering with the use of our facilities by other customers or authorized "
                   "individuals."),
            ),
        ),
        Category(
            violation=Violation.SCANNING,
            summary="Probing or scanning other networks without consent",
            clauses=(
                _c(NEC, "probing, scanning, penetrating, reverse engineering, or testing the vulnerability of "
                   "any Company system, software or network (unless authorized in writing by Company)"),
                _c(SECURE_PACKET, "unauthorized access to, monitoring or use of, or interference with an internet "
                   "account, computer, systems, networks, data or traffic"),
            ),
        ),
        Category(
            violation=Violation.INTRUSION,
            summary="Unauthorized access attempts (cracking, brute force)",
            clauses=(
                _c(NANOSEK, "Users may not attempt to gain unauthorized access to, or attempt to interfere with "
                   "or compromise the normal functioning, operation, or security of any network, system"),
                _c(HEXTET, "Unauthorized attempts by a user to gain access to any account or computer resource "
                   "not belonging to that user (e.g., \"cracking\")."),
                _c(NORTH, "Accessing accounts or resources without authorization (e.g., \"hacking\", "
                   "\"cracking\", \"phreaking\")."),
            ),
        ),
        Category(
            violation=Violation.SPOOFING,
            summary="Forged source addresses or headers; only the customer's own prefixes may source traffic",
            clauses=(
                _c(NANOSEK, "send e-mail with forged TCP/IP packet header information"),
                _c(SECURE_PACKET, "using false, misleading or deceptive TCP-IP packet header information in an "
                   "email or newsgroup posting"),
                _c(SECURE_PACKET, "only use IP addresses assigned to Customer by Secure Packet in connection "
                   "with the Services."),
                _c(NORTH, "network sniffing, packet spoofing, flooding, mail-bombing, or denial-of-service "
                   "attacks."),
                _c(NEC, "using a false caller identity (spoofing) or forged email or SMS address or header"),
            ),
        ),
        Category(
            violation=Violation.BGP_HIJACK,
            summary="A customer announcing a network it does not own (or a bogon) over BGP",
            clauses=(
                _c(NANOSEK, "Users are prohibited from intentionally or negligently injecting false data into "
                   "the Internet, for instance in the form of bad routing information (including but not limited "
                   "to the announcing of networks owned by someone else or reserved by the Internet Assigned "
                   "Numbers Authority)"),
                _c(SECURE_PACKET, "only use IP addresses assigned to Customer by Secure Packet in connection "
                   "with the Services."),
            ),
        ),
        Category(
            violation=Violation.EXCESSIVE_BANDWIDTH,
            summary="Usage beyond the contracted bandwidth or a disproportionate share of shared capacity",
            clauses=(
                _c(NANOSEK, "If we have specified bandwidth limitations for User accounts, use of the Service "
                   "shall not be in excess of those limitations."),
                _c(SECURE_PACKET, "use of any Secure Packet provided shared system in a way that unnecessarily "
                   "interferes with the normal operation of the shared system, or consumes a disproportionate "
                   "share of system resources"),
                _c(NORTH, "If usage exceeds reasonable limits, additional fees may apply, or usage capacity may "
                   "be restricted."),
                _c(NEC, "exceeding the allowed bandwidth by transferring excess data, or using any Services or "
                   "system in a way that consumes a disproportionate share of the resources"),
            ),
        ),
        Category(
            violation=Violation.MALWARE_HOSTING,
            summary="A host distributing viruses, worms, trojans or other malicious code",
            clauses=(
                _c(NANOSEK, "Such prohibited harmful content includes, but is not limited to, viruses, worms, "
                   "password-cracking programs or Trojan horses."),
                _c(SECURE_PACKET, "intentionally, knowingly or recklessly introducing any malicious code into the "
                   "Services"),
                _c(NEC, "intentionally distributing viruses, worms, Trojan horses, corrupted files, hoaxes, or "
                   "other malicious software code"),
            ),
        ),
        Category(
            violation=Violation.PHISHING,
            summary="A host serving fraudulent or deceptive content to steal credentials",
            clauses=(
                _c(NANOSEK, "Users shall not transmit or distribute material containing fraudulent offers for "
                   "goods or services, or any advertising or promotional materials that contain false, "
                   "deceptive, or misleading statements, claims, or representations."),
                _c(SECURE_PACKET, "deceitfully collecting, transmitting or using information, or distributing "
                   "software which covertly gathers or transmits information about a user"),
            ),
        ),
        Category(
            violation=Violation.ILLEGAL_CONTENT,
            summary="A host storing or distributing content that is illegal",
            clauses=(
                _c(HEXTET, "Transmission, distribution or storage of any material in violation of any applicable "
                   "law or regulation is prohibited."),
                _c(NORTH, "Publishing or transmitting content that incites violence, depicts violence or child "
                   "pornography, or threatens health and safety."),
                _c(NANOSEK, "Use of Nanosek’s Services for transmission, distribution, retrieval, or storage of "
                   "any information, data, or other material in violation of any applicable law or regulation"),
            ),
        ),
    )
}


def category(v: Violation) -> Category:
    return CATALOG[v]


def primary_clause(v: Violation) -> str:
    """The citation recorded in the audit log for a decision of this category."""
    return CATALOG[v].clauses[0].cite()
