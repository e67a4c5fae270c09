"""Names of the public internet that the testbed's resolvers answer, as a workstation asks them.

Until these, every benign DNS query of the testbed asked for one of six names
under ``testbed.lan`` and every tunnel query for a name under
``t.testbed.lan``: a model trained on that learns "a name outside the lab's
six is a tunnel", and on real captures it called ordinary lookups of
wikipedia.org and a Kerberos realm's SRV records a DNS tunnel. These records
bring what real benign DNS holds: many registered domains, deep and
hash-like CDN labels, CNAME chains, SRV, MX and TXT records, search-domain
suffixes and names that do not exist. The resolvers serve them from the lab
(the testbed has no route out), so every answer comes from the run's own
DNS server.

A record's data is empty for A and AAAA: the server answers with the
testbed's addresses.
"""

from __future__ import annotations

from dataclasses import dataclass

LAB_AAAA = "fd00:7781::53"


@dataclass(frozen=True)
class PublicRecord:
    name: str
    kind: str  # A, AAAA, CNAME, MX, TXT, SRV
    data: str = ""  # empty for A/AAAA; MX "10 host", SRV "0 100 88 host", TXT the text


def _hosts(*names: str) -> tuple[PublicRecord, ...]:
    return tuple(PublicRecord(name, kind) for name in names for kind in ("A", "AAAA"))


RECORDS: tuple[PublicRecord, ...] = (
    *_hosts("dyna.wikimedia.org", "upload.wikimedia.org", "meta.wikimedia.org",
            "www.google.com", "fonts.gstatic.com", "www.gstatic.com", "clients4.google.com",
            "r3---sn-4g5e6nzz.googlevideo.com", "www.debian.org", "security.debian.org",
            "debian.map.fastlydns.net", "connectivity-check.ubuntu.com", "ntp.ubuntu.com",
            "archive.ubuntu.com", "time.windows.com", "ctldl.windowsupdate.com",
            "settings-win.data.microsoft.com", "login.microsoftonline.com",
            "outlook.office365.com", "ocsp.digicert.com", "ocsp.pki.goog",
            "d3ag4hukkh62yn.cloudfront.net", "e6858.dsce9.akamaiedge.net",
            "a1916.dscg2.akamai.net", "github.com", "api.github.com",
            "objects.githubusercontent.com", "registry.npmjs.org", "pypi.org",
            "files.pythonhosted.org", "detectportal.firefox.com",
            "incoming.telemetry.mozilla.org", "push.services.mozilla.com", "www.bbc.co.uk",
            "www.amazon.de", "www.example.com", "dc1.corp.example.com",
            "gmail-smtp-in.l.google.com", "xmpp.jabber.org"),
    PublicRecord("www.wikipedia.org", "CNAME", "dyna.wikimedia.org"),
    PublicRecord("en.wikipedia.org", "CNAME", "dyna.wikimedia.org"),
    PublicRecord("deb.debian.org", "CNAME", "debian.map.fastlydns.net"),
    PublicRecord("www.microsoft.com", "CNAME", "e6858.dsce9.akamaiedge.net"),
    PublicRecord("gmail.com", "MX", "5 gmail-smtp-in.l.google.com"),
    PublicRecord("example.com", "MX", "10 mail.testbed.lan"),
    PublicRecord("example.com", "TXT", "v=spf1 -all"),
    PublicRecord("_dmarc.example.com", "TXT", "v=DMARC1; p=none; rua=mailto:dmarc@example.com"),
    PublicRecord("google.com", "TXT", "v=spf1 include:_spf.google.com ~all"),
    PublicRecord("_kerberos._udp.corp.example.com", "SRV", "0 100 88 dc1.corp.example.com"),
    PublicRecord("_kerberos._tcp.corp.example.com", "SRV", "0 100 88 dc1.corp.example.com"),
    PublicRecord("_ldap._tcp.dc._msdcs.corp.example.com", "SRV",
                 "0 100 389 dc1.corp.example.com"),
    PublicRecord("_xmpp-client._tcp.jabber.org", "SRV", "5 0 5222 xmpp.jabber.org"),
)
# asked for and not there, as workstations do: proxy and tunnel auto-discovery, names with
# the search domain appended
MISSING_NAMES = ("wpad.corp.example.com", "isatap.corp.example.com",
                 "www.wikipedia.org.corp.example.com", "_ldap._tcp.corp.example.com")


def registered_domain(name: str) -> str:
    """The zone a name belongs to: its last two labels, three under a two-label suffix."""
    labels = name.split(".")
    size = 3 if labels[-2:] in (["co", "uk"], ["com", "au"]) else 2
    return ".".join(labels[-size:])


def zones() -> list[str]:
    """Every registered domain the resolvers answer for, sorted."""
    return sorted({registered_domain(r.name) for r in RECORDS}
                  | {registered_domain(n) for n in MISSING_NAMES})


def questions() -> list[tuple[str, str]]:
    """(name, type) pairs a client may ask: every record's, and the missing names' A."""
    asked = {(r.name, r.kind) for r in RECORDS if r.kind != "CNAME"}
    asked |= {(r.name, kind) for r in RECORDS if r.kind == "CNAME" for kind in ("A", "AAAA")}
    return sorted(asked | {(name, "A") for name in MISSING_NAMES})
