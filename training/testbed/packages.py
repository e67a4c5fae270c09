"""The tools the testbed needs, the Debian packages that bring them, and installing them."""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
from pathlib import Path

from trafficlm.training.testbed.shell import TestbedError, run

TOOL_PACKAGES = {
    "tcpdump": "tcpdump", "ethtool": "ethtool", "ss": "iproute2", "ping": "iputils-ping",
    "nginx": "nginx-light", "sshd": "openssh-server", "ssh": "openssh-client",
    "ssh-keygen": "openssh-client", "sshpass": "sshpass", "vsftpd": "vsftpd",
    "dnsmasq": "dnsmasq-base", "mosquitto": "mosquitto", "mosquitto_pub": "mosquitto-clients",
    "iperf3": "iperf3", "dig": "dnsutils", "host": "bind9-host", "nslookup": "dnsutils",
    "curl": "curl", "openssl": "openssl",
    "nmap": "nmap", "hydra": "hydra", "hping3": "hping3", "slowhttptest": "slowhttptest",
    "ab": "apache2-utils", "sqlmap": "sqlmap",
    # the wide profile's conditions, servers, clients and attack tools
    "iptables": "iptables", "tc": "iproute2", "sysctl": "procps",
    "apache2": "apache2", "lighttpd": "lighttpd lighttpd-mod-openssl", "dropbear": "dropbear-bin",
    "dropbearkey": "dropbear-bin", "unbound": "unbound", "named": "bind9",
    "redis-server": "redis-server", "redis-cli": "redis-tools", "chronyd": "chrony",
    "snmpd": "snmpd", "snmpget": "snmp", "snmpwalk": "snmp", "ptunnel-ng": "ptunnel-ng",
    "iodined": "iodine", "iodine": "iodine",
    "medusa": "medusa", "ncrack": "ncrack", "patator": "patator", "t50": "t50", "siege": "siege",
    "wrk": "wrk", "gobuster": "gobuster", "dirb": "dirb", "ffuf": "ffuf", "wfuzz": "wfuzz",
    "postfix": "postfix", "dovecot": "dovecot-imapd dovecot-pop3d",
    "postgres": "postgresql", "runuser": "util-linux", "psql": "postgresql-client",
    "swaks": "swaks", "chromium": "chromium",
    "smbd": "samba", "smbpasswd": "samba", "smbclient": "smbclient",
    "proftpd": "libhiredis0.14 libmemcachedutil2 libpcre2-posix3",
    "pure-ftpd": "libsodium23", "pure-pw": "libsodium23",
    "masscan": "masscan", "wget": "wget", "scp": "openssh-client", "sftp": "openssh-client",
    "python3": "python3", "bash": "bash",
    "krb5kdc": "krb5-kdc", "kdb5_util": "krb5-kdc", "kadmin.local": "krb5-admin-server",
    "kinit": "krb5-user", "kvno": "krb5-user", "sipp": "sip-tester",
    "nmblookup": "samba-common-bin",
}
INFRASTRUCTURE = ("tcpdump", "ethtool", "ss", "ping", "nginx", "sshd", "ssh-keygen", "vsftpd",
                  "dnsmasq", "mosquitto", "iperf3", "openssl", "curl")
CONDITIONS = ("iptables", "tc", "sysctl")  # what the wide profile's links and stacks need
POLICY_RC = Path("/usr/sbin/policy-rc.d")
# Debian packages that conflict with one the testbed also needs (proftpd-core and vsftpd
# both provide ftp-server), so they are unpacked rather than installed: tool -> (package,
# path inside it). TOOL_PACKAGES names the libraries they need, which install normally.
UNPACKED = {"proftpd": ("proftpd-core", "usr/sbin/proftpd"),
            "pure-ftpd": ("pure-ftpd", "usr/sbin/pure-ftpd"),
            "pure-pw": ("pure-ftpd", "usr/bin/pure-pw")}
UNPACKED_ROOT = Path("/var/lib/trafficlm-testbed/unpacked")


def which(tool: str) -> str | None:
    """Where ``tool`` is: on PATH, in the sbin directories, PostgreSQL's bin, or unpacked."""
    if tool in UNPACKED:
        package, inside = UNPACKED[tool]
        unpacked = UNPACKED_ROOT / package / inside
        if unpacked.exists():
            return str(unpacked)
    extra = ["/usr/sbin", "/sbin", *sorted(glob.glob("/usr/lib/postgresql/*/bin"))]
    return shutil.which(tool, path=":".join([*extra, os.environ.get("PATH", "")]))


def ensure_tools(tools: set[str], install: bool, log: Path) -> dict[str, str]:
    """Install what is missing; return {tool: why it is still missing} for the rest."""
    missing = sorted(t for t in tools if which(t) is None)
    if missing and install:
        _apt_install(sorted({p for t in missing for p in TOOL_PACKAGES[t].split()}), log)
        for tool in missing:
            if tool in UNPACKED:
                _unpack(UNPACKED[tool][0], log)
        missing = [t for t in missing if which(t) is None]
    reason = "not installed (run with package installation enabled, as root)" if not install \
        else "its package could not be installed (see the run log)"
    return {t: f"{t} ({TOOL_PACKAGES[t]}): {reason}" for t in missing}


def _apt_install(packages: list[str], log: Path) -> None:
    """apt-get install as root, with daemons kept from starting on the host."""
    guard = not POLICY_RC.exists()
    if guard:  # only ours is removed afterwards
        POLICY_RC.write_text("#!/bin/sh\nexit 101\n")
        POLICY_RC.chmod(0o755)
    try:
        os.environ["DEBIAN_FRONTEND"] = "noninteractive"
        run(["apt-get", "update", "-q"], check=False, timeout=300, log=log)
        run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages],
            check=False, timeout=600, log=log)
    except TestbedError:
        pass  # reported per tool by the caller
    finally:
        if guard:
            POLICY_RC.unlink(missing_ok=True)


def _unpack(package: str, log: Path) -> None:
    """``apt-get download`` a package and unpack it under UNPACKED_ROOT, its version beside."""
    target = UNPACKED_ROOT / package
    with tempfile.TemporaryDirectory() as scratch:
        try:
            run(["apt-get", "download", package], check=False, timeout=300, log=log,
                cwd=scratch)
            debs = sorted(Path(scratch).glob(f"{package}_*.deb"))
            if not debs:
                return
            target.mkdir(parents=True, exist_ok=True)
            run(["dpkg-deb", "-x", str(debs[0]), str(target)], log=log)
            version = run(["dpkg-deb", "-f", str(debs[0]), "Version"]).stdout.strip()
            (target / "VERSION").write_text(version + "\n")
        except TestbedError:
            pass  # reported per tool by the caller


def tool_versions(tools: set[str]) -> dict[str, str]:
    """The Debian package and version behind each tool, for the manifest."""
    versions = {}
    for tool in sorted(tools):
        if tool in UNPACKED:
            package = UNPACKED[tool][0]
            version = UNPACKED_ROOT / package / "VERSION"
            if version.exists():
                versions[tool] = f"{package} {version.read_text().strip()} (unpacked)"
                continue
        package = TOOL_PACKAGES[tool].split()[0]
        out = run(["dpkg-query", "-W", "-f=${Version}", package], check=False, timeout=20)
        versions[tool] = f"{package} {out.stdout.strip() or 'unknown'}"
    return versions
