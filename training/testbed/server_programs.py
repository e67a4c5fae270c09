"""Every server program the testbed can run, each configured from scratch in its work directory.

One ``ServerProgram`` per Debian program: the executables it needs, the ports
it must be listening on before traffic starts, and a function that writes its
configuration under the host's work directory and returns its command line
(always in the foreground, so the runner owns the process). Nothing under
/etc is read or changed, except the Debian default MIME table some read.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from trafficlm.training.testbed.packages import which
from trafficlm.training.testbed.public_names import (
    LAB_AAAA,
    RECORDS,
    PublicRecord,
    registered_domain,
    zones,
)
from trafficlm.training.testbed.shell import TestbedError, run
from trafficlm.training.testbed.webapp import APP_PREFIXES
from trafficlm.training.testbed.world import LoginPolicy

LOGIN_USER, LOGIN_PASSWORD = "tlmtb", "tlmtb-Passw0rd"
WEBAPP_PORT = 8081
APPS = "|".join(APP_PREFIXES)  # what the HTTP servers proxy to the web application
TUNNEL_ZONE = "t.testbed.lan"
APACHE_MODULES = "/usr/lib/apache2/modules"


@dataclass(frozen=True)
class ServerContext:
    """Where a program writes its files, the address it serves on, and run-wide settings."""

    work: Path
    ip: str
    subnet: str  # "10.203.0.0/24": who may query
    ftp_passive: tuple[int, int]
    logins: LoginPolicy

    def config(self, name: str, text: str) -> str:
        path = self.work / name
        path.write_text(text, encoding="utf-8")
        return str(path)


@dataclass(frozen=True)
class ServerProgram:
    name: str
    service: str
    tools: tuple[str, ...]
    ports: tuple[str, ...]  # "tcp/80", "udp/53": must be listening before traffic starts
    command: Callable[[ServerContext], list[str]]


def _nginx(c: ServerContext) -> list[str]:
    return ["nginx", "-c", c.config("nginx.conf", NGINX.format(w=c.work, ip=c.ip, apps=APPS)),
            "-g", "daemon off;"]


def _apache2(c: ServerContext) -> list[str]:
    return ["apache2", "-f", c.config("apache2.conf", APACHE2.format(
        w=c.work, ip=c.ip, modules=APACHE_MODULES, apps=APPS)), "-DFOREGROUND"]


def _lighttpd(c: ServerContext) -> list[str]:
    return ["lighttpd", "-D", "-f", c.config("lighttpd.conf",
                                           LIGHTTPD.format(w=c.work, ip=c.ip, apps=APPS))]


def _openssh(c: ServerContext) -> list[str]:
    key = c.work / "ssh_host_ed25519_key"
    if not key.exists():
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)])
    Path("/run/sshd").mkdir(exist_ok=True)
    return ["/usr/sbin/sshd", "-D", "-e", "-f",
            c.config("sshd_config", SSHD.format(w=c.work, ip=c.ip, user=LOGIN_USER,
                                                tries=c.logins.ssh_max_auth_tries))]


def _dropbear(c: ServerContext) -> list[str]:
    key = c.work / "dropbear_ed25519_key"
    if not key.exists():
        run(["dropbearkey", "-t", "ed25519", "-f", str(key)])
    return ["dropbear", "-F", "-E", "-p", f"{c.ip}:22", "-r", str(key),
            "-P", str(c.work / "dropbear.pid")]


def _vsftpd(c: ServerContext) -> list[str]:
    low, high = c.ftp_passive
    return ["/usr/sbin/vsftpd", c.config("vsftpd.conf", VSFTPD.format(
        w=c.work, ip=c.ip, low=low, high=high, delay=c.logins.ftp_delay_failed_login,
        fails=c.logins.ftp_max_login_fails))]


def _proftpd(c: ServerContext) -> list[str]:
    low, high = c.ftp_passive
    binary = which("proftpd")
    if binary is None:
        raise TestbedError("proftpd (proftpd-core): not unpacked")
    return [binary, "-n", "-c", c.config("proftpd.conf", PROFTPD.format(
        w=c.work, ip=c.ip, low=low, high=high, fails=max(1, c.logins.ftp_max_login_fails)))]


def _pure_ftpd(c: ServerContext) -> list[str]:
    """pure-ftpd with one virtual user whose home (and chroot) is the FTP directory."""
    binary, pure_pw = which("pure-ftpd"), which("pure-pw")
    if binary is None or pure_pw is None:
        raise TestbedError("pure-ftpd (pure-ftpd): not unpacked")
    users, database = c.work / "pureftpd.passwd", c.work / "pureftpd.pdb"
    subprocess.run([pure_pw, "useradd", LOGIN_USER, "-u", LOGIN_USER, "-d", str(c.work / "ftp"),
                    "-f", str(users), "-m", "-F", str(database)],
                   input=f"{LOGIN_PASSWORD}\n{LOGIN_PASSWORD}\n", text=True,
                   capture_output=True, check=True, timeout=30)
    low, high = c.ftp_passive
    return [binary, "-S", f"{c.ip},21", "-p", f"{low}:{high}", "-l", f"puredb:{database}",
            "-E", "-H", "-d"]


def _dnsmasq(c: ServerContext) -> list[str]:
    return ["dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts",
            "--bind-interfaces", f"--listen-address={c.ip}", "--log-queries",
            "--local=/testbed.lan/",  # authoritative: NXDOMAIN, not REFUSED
            "--log-facility=-", "--user=root", f"--pid-file={c.work}/dnsmasq.pid",
            *(f"--host-record={h}.testbed.lan,{c.ip}" for h in ("www", "ftp", "mail")),
            "--mx-host=testbed.lan,mail.testbed.lan",
            "--txt-record=testbed.lan,v=spf1 mx -all",  # argv: quotes would be kept
            f"--address=/{TUNNEL_ZONE}/{c.ip}", *_dnsmasq_public(c.ip)]


def _dnsmasq_public(ip: str) -> list[str]:
    """dnsmasq's options that answer the public names (``public_names``), authoritatively."""
    options = [f"--local=/{zone}/" for zone in zones()]
    for r in RECORDS:
        if r.kind == "A":
            options.append(f"--host-record={r.name},{ip},{LAB_AAAA}")
        elif r.kind == "CNAME":
            options.append(f"--cname={r.name},{r.data}")
        elif r.kind == "MX":
            preference, host = r.data.split()
            options.append(f"--mx-host={r.name},{host},{preference}")
        elif r.kind == "TXT":
            options.append(f"--txt-record={r.name},{r.data}")
        elif r.kind == "SRV":
            priority, weight, port, host = r.data.split()
            options.append(f"--srv-host={r.name},{host},{port},{priority},{weight}")
    return options


def _zone_data(r: PublicRecord, ip: str) -> str:
    """A public record's data in zone-file syntax (also unbound's local-data)."""
    if r.kind in ("A", "AAAA"):
        return ip if r.kind == "A" else LAB_AAAA
    if r.kind == "TXT":
        return f'"{r.data}"'
    *numbers, host = r.data.split()
    return " ".join([*numbers, f"{host}."])


def _unbound_public(ip: str) -> str:
    """unbound's local zones and data for the public names."""
    lines = [f'  local-zone: "{zone}." static' for zone in zones()]
    lines += [f"  local-data: '{r.name}. 300 IN {r.kind} {_zone_data(r, ip)}'"
              for r in RECORDS]
    return "\n".join(lines)


def _bind_public(zone_dir: Path, ip: str) -> str:
    """Writes one bind zone file per public zone; returns the zone statements for named.conf."""
    statements = []
    for zone in zones():
        records = [f"{r.name}. IN {r.kind} {_zone_data(r, ip)}" for r in RECORDS
                   if registered_domain(r.name) == zone]
        (zone_dir / f"{zone}.zone").write_text(
            PUBLIC_ZONE_HEAD + "\n".join(records) + "\n", encoding="utf-8")
        statements.append(f'zone "{zone}" {{ type primary; file "{zone_dir}/{zone}.zone"; }};')
    return "\n".join(statements)


def _unbound(c: ServerContext) -> list[str]:
    return ["unbound", "-d", "-c", c.config("unbound.conf", UNBOUND.format(
        w=c.work, ip=c.ip, subnet=c.subnet, zone=TUNNEL_ZONE, public=_unbound_public(c.ip)))]


def _bind9(c: ServerContext) -> list[str]:
    zone_dir = c.work / "bind"
    zone_dir.mkdir(exist_ok=True)
    (zone_dir / "testbed.lan.zone").write_text(BIND_ZONE.format(ip=c.ip), encoding="utf-8")
    public = _bind_public(zone_dir, c.ip)
    return ["named", "-g", "-c", c.config("named.conf", BIND.format(w=c.work, ip=c.ip) + public)]


def _mosquitto(c: ServerContext) -> list[str]:
    return ["mosquitto", "-c", c.config("mosquitto.conf", MOSQUITTO.format(w=c.work, ip=c.ip))]


def _iperf3(c: ServerContext) -> list[str]:
    return ["iperf3", "-s", "-B", c.ip]


def _redis(c: ServerContext) -> list[str]:
    return ["redis-server", "--bind", c.ip, "--port", "6379", "--protected-mode", "no",
            "--requirepass", LOGIN_PASSWORD, "--save", "", "--appendonly", "no",
            "--dir", str(c.work), "--logfile", ""]


def _chrony(c: ServerContext) -> list[str]:
    # -x: serve time without touching this machine's clock
    return ["chronyd", "-d", "-x", "-f", c.config("chrony.conf", CHRONY.format(
        w=c.work, ip=c.ip, subnet=c.subnet))]


def _snmpd(c: ServerContext) -> list[str]:
    return ["snmpd", "-f", "-Lo", "-C", "-c", c.config("snmpd.conf", SNMPD.format(
        subnet=c.subnet)), "-p", str(c.work / "snmpd.pid"), f"udp:{c.ip}:161"]


def _ptunnel(c: ServerContext) -> list[str]:
    # proxy mode: forwards what clients tunnel in ICMP echo, only to this host's SSH server
    return ["ptunnel-ng", "-v", "1", f"-r{c.ip}", "-R22", f"-d{c.work}/ptunnel.pid"]


def _postfix(c: ServerContext) -> list[str]:
    """Postfix from its own config directory; local mail lands in the work directory."""
    config = c.work / "postfix"
    (config / "spool").mkdir(parents=True, exist_ok=True)
    (config / "data").mkdir(exist_ok=True)
    mail = c.work / "mail"
    mail.mkdir(exist_ok=True)
    mail.chmod(0o1777)
    run(["chown", "postfix", str(config / "data")])
    (config / "master.cf").write_text(Path("/etc/postfix/master.cf").read_text())
    (config / "main.cf").write_text(POSTFIX.format(w=c.work, ip=c.ip, subnet=c.subnet))
    run(["postfix", "-c", str(config), "set-permissions"], check=False)
    return ["postfix", "-c", str(config), "start-fg"]


def _dovecot(c: ServerContext) -> list[str]:
    home = c.work / "mailroot" / LOGIN_USER
    home.mkdir(parents=True, exist_ok=True)
    run(["chown", "-R", f"{LOGIN_USER}:", str(home)])
    users = c.config("dovecot-users", f"{LOGIN_USER}:{{PLAIN}}{LOGIN_PASSWORD}\n")
    return ["dovecot", "-F", "-c", c.config("dovecot.conf", DOVECOT.format(
        w=c.work, ip=c.ip, users=users, user=LOGIN_USER,
        delay=c.logins.mail_auth_failure_delay))]


def _postgresql(c: ServerContext) -> list[str]:
    """A fresh cluster in the work directory; its superuser's password is the login's."""
    data, sockets = c.work / "pgdata", c.work / "pgsock"
    sockets.mkdir(exist_ok=True)
    run(["chown", "postgres", str(sockets)])
    if not (data / "PG_VERSION").exists():
        data.mkdir(mode=0o700, exist_ok=True)
        run(["chown", "postgres", str(data)])
        password = c.config("pgpass", LOGIN_PASSWORD + "\n")
        run(["chown", "postgres", password])
        run(["runuser", "-u", "postgres", "--", _postgres_bin("initdb"), "-D", str(data),
             "-A", "scram-sha-256", f"--pwfile={password}", "-U", "postgres"], timeout=120)
        with open(data / "pg_hba.conf", "a", encoding="utf-8") as hba:
            hba.write(f"host all all {c.subnet} scram-sha-256\n")
    return ["runuser", "-u", "postgres", "--", _postgres_bin("postgres"), "-D", str(data),
            "-c", f"listen_addresses={c.ip}", "-c", f"unix_socket_directories={sockets}",
            "-c", "log_connections=on"]


def _samba(c: ServerContext) -> list[str]:
    """smbd with its own state directories, one share (the FTP files), one account."""
    state = c.work / "samba"
    for sub in ("private", "lock", "state", "cache", "ncalrpc"):
        (state / sub).mkdir(parents=True, exist_ok=True)
    config = c.config("smb.conf", SAMBA.format(w=c.work, ip=c.ip, user=LOGIN_USER))
    subprocess.run(["smbpasswd", "-c", config, "-s", "-a", LOGIN_USER],
                   input=f"{LOGIN_PASSWORD}\n{LOGIN_PASSWORD}\n", text=True,
                   capture_output=True, check=True, timeout=60)
    return ["smbd", "--foreground", "--no-process-group", "--debug-stdout",
            f"--configfile={config}"]


def _postgres_bin(tool: str) -> str:
    """Debian's PostgreSQL server binaries (not some other initdb that PATH may hold)."""
    for directory in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (directory / tool).exists():
            return str(directory / tool)
    raise TestbedError(f"{tool} (postgresql): not installed")


KERBEROS_REALM = "TESTBED.LAN"
KERBEROS_SERVICES = ("host/www.testbed.lan", "HTTP/www.testbed.lan", "cifs/files.testbed.lan",
                     "ldap/dc1.testbed.lan")


def _krb5kdc(c: ServerContext) -> list[str]:
    """An MIT Kerberos KDC with a fresh database: the login's principal and a few services.

    The configuration reaches every tool through KRB5_CONFIG and KRB5_KDC_PROFILE, so
    /etc/krb5.conf is never read."""
    state = c.work / "krb5kdc"
    state.mkdir(exist_ok=True)
    env = ["env", f"KRB5_CONFIG={c.config('krb5.conf', KRB5_CONF.format(ip=c.ip))}",
           f"KRB5_KDC_PROFILE={c.config('kdc.conf', KDC_CONF.format(w=state, ip=c.ip))}"]
    if not (state / "principal").exists():
        run([*env, "kdb5_util", "-r", KERBEROS_REALM, "create", "-s", "-P", LOGIN_PASSWORD])
        run([*env, "kadmin.local", "-r", KERBEROS_REALM, "-q",
             f"addprinc -pw {LOGIN_PASSWORD} {LOGIN_USER}"])
        for service in KERBEROS_SERVICES:
            run([*env, "kadmin.local", "-r", KERBEROS_REALM, "-q", f"addprinc -randkey {service}"])
    return [*env, "krb5kdc", "-n", "-P", str(state / "krb5kdc.pid")]


def _sipp(c: ServerContext) -> list[str]:
    """SIPp's built-in user agent server: answers every INVITE, then the BYE."""
    return ["sipp", "-sn", "uas", "-i", c.ip, "-p", "5060", "-nostdin", "-trace_err",
            "-error_file", str(c.work / "sipp-errors.log")]


IODINE_ZONE, IODINE_NET = "i.testbed.lan", "10.99.0.1"


def _iodined(c: ServerContext) -> list[str]:
    # -c: accept clients whatever their source address
    return ["iodined", "-f", "-c", "-P", LOGIN_PASSWORD, "-l", c.ip, "-p", "53",
            "-F", str(c.work / "iodined.pid"), f"{IODINE_NET}/27", IODINE_ZONE]


PROGRAMS = {p.name: p for p in (
    ServerProgram("nginx", "http", ("nginx",), ("tcp/80", "tcp/443"), _nginx),
    ServerProgram("apache2", "http", ("apache2",), ("tcp/80", "tcp/443"), _apache2),
    ServerProgram("lighttpd", "http", ("lighttpd",), ("tcp/80", "tcp/443"), _lighttpd),
    ServerProgram("openssh", "ssh", ("sshd", "ssh-keygen"), ("tcp/22",), _openssh),
    ServerProgram("dropbear", "ssh", ("dropbear", "dropbearkey"), ("tcp/22",), _dropbear),
    ServerProgram("vsftpd", "ftp", ("vsftpd",), ("tcp/21",), _vsftpd),
    ServerProgram("proftpd", "ftp", ("proftpd",), ("tcp/21",), _proftpd),
    ServerProgram("pure-ftpd", "ftp", ("pure-ftpd", "pure-pw"), ("tcp/21",), _pure_ftpd),
    ServerProgram("dnsmasq", "dns", ("dnsmasq",), ("tcp/53", "udp/53"), _dnsmasq),
    ServerProgram("unbound", "dns", ("unbound",), ("tcp/53", "udp/53"), _unbound),
    ServerProgram("bind9", "dns", ("named",), ("tcp/53", "udp/53"), _bind9),
    ServerProgram("mosquitto", "mqtt", ("mosquitto",), ("tcp/1883",), _mosquitto),
    ServerProgram("iperf3", "iperf", ("iperf3",), ("tcp/5201",), _iperf3),
    ServerProgram("redis", "redis", ("redis-server",), ("tcp/6379",), _redis),
    ServerProgram("chrony", "ntp", ("chronyd",), ("udp/123",), _chrony),
    ServerProgram("snmpd", "snmp", ("snmpd",), ("udp/161",), _snmpd),
    ServerProgram("ptunnel-ng", "icmp_proxy", ("ptunnel-ng",), (), _ptunnel),
    ServerProgram("iodined", "dns_tunnel_server", ("iodined",), ("udp/53",), _iodined),
    ServerProgram("samba", "smb", ("smbd", "smbpasswd"), ("tcp/445",), _samba),
    ServerProgram("postfix", "smtp", ("postfix",), ("tcp/25",), _postfix),
    ServerProgram("dovecot", "imap", ("dovecot",), ("tcp/143", "tcp/110"), _dovecot),
    ServerProgram("postgresql", "database", ("postgres", "runuser"), ("tcp/5432",), _postgresql),
    ServerProgram("krb5kdc", "kerberos", ("krb5kdc", "kdb5_util", "kadmin.local"),
                  ("tcp/88", "udp/88"), _krb5kdc),
    ServerProgram("sipp", "sip", ("sipp",), ("udp/5060",), _sipp),
)}

NGINX = """worker_processes 1;
pid {w}/nginx.pid;
error_log {w}/nginx-error.log;
events {{ worker_connections 256; }}
http {{
  include /etc/nginx/mime.types;
  access_log {w}/nginx-access.log;
  client_body_temp_path {w}/nginx-body;
  proxy_temp_path {w}/nginx-proxy;
  fastcgi_temp_path {w}/nginx-fastcgi;
  uwsgi_temp_path {w}/nginx-uwsgi;
  scgi_temp_path {w}/nginx-scgi;
  server {{
    listen {ip}:80;
    listen {ip}:443 ssl http2;
    ssl_certificate {w}/cert.pem;
    ssl_certificate_key {w}/key.pem;
    root {w}/www;
    location ~ ^/({apps})(/|$) {{ proxy_pass http://127.0.0.1:8081; }}
  }}
}}
"""
APACHE2 = """ServerName www.testbed.lan
PidFile {w}/apache2.pid
DefaultRuntimeDir {w}
Mutex file:{w} default
Listen {ip}:80
Listen {ip}:443
LoadModule mpm_event_module {modules}/mod_mpm_event.so
LoadModule authz_core_module {modules}/mod_authz_core.so
LoadModule mime_module {modules}/mod_mime.so
LoadModule dir_module {modules}/mod_dir.so
LoadModule proxy_module {modules}/mod_proxy.so
LoadModule proxy_http_module {modules}/mod_proxy_http.so
LoadModule socache_shmcb_module {modules}/mod_socache_shmcb.so
LoadModule ssl_module {modules}/mod_ssl.so
LoadModule http2_module {modules}/mod_http2.so
User www-data
Group www-data
ErrorLog {w}/apache2-error.log
LogFormat "%h %l %u %t \\"%r\\" %>s %b" common
CustomLog {w}/apache2-access.log common
TypesConfig /etc/mime.types
DocumentRoot {w}/www
DirectoryIndex index.html
Protocols h2 http/1.1
<Directory {w}/www>
  Require all granted
</Directory>
ProxyPassMatch "^/({apps})(/.*)?$" "http://127.0.0.1:8081/$1$2"
<VirtualHost {ip}:443>
  SSLEngine on
  SSLCertificateFile {w}/cert.pem
  SSLCertificateKeyFile {w}/key.pem
</VirtualHost>
"""
LIGHTTPD = """server.modules = ("mod_proxy", "mod_openssl", "mod_accesslog")
server.document-root = "{w}/www"
server.bind = "{ip}"
server.port = 80
server.pid-file = "{w}/lighttpd.pid"
server.errorlog = "{w}/lighttpd-error.log"
accesslog.filename = "{w}/lighttpd-access.log"
index-file.names = ("index.html")
mimetype.assign = (".html" => "text/html", ".css" => "text/css",
  ".js" => "application/javascript", ".png" => "image/png", ".jpg" => "image/jpeg",
  ".txt" => "text/plain", ".bin" => "application/octet-stream")
$SERVER["socket"] == "{ip}:443" {{
  ssl.engine = "enable"
  ssl.pemfile = "{w}/cert.pem"
  ssl.privkey = "{w}/key.pem"
}}
$HTTP["url"] =~ "^/({apps})(/|$)" {{
  proxy.server = ("" => (("host" => "127.0.0.1", "port" => 8081)))
}}
"""
SSHD = """Port 22
ListenAddress {ip}
HostKey {w}/ssh_host_ed25519_key
PidFile {w}/sshd.pid
UsePAM no
PasswordAuthentication yes
KbdInteractiveAuthentication no
PermitRootLogin no
AllowUsers {user}
MaxAuthTries {tries}
"""
VSFTPD = """listen=YES
listen_address={ip}
background=NO
anonymous_enable=NO
local_enable=YES
write_enable=YES
local_root={w}/ftp
seccomp_sandbox=NO
isolate=NO
isolate_network=NO
pam_service_name=vsftpd
secure_chroot_dir={w}/empty
pasv_enable=YES
pasv_min_port={low}
pasv_max_port={high}
port_enable=YES
delay_failed_login={delay}
max_login_fails={fails}
"""
PROFTPD = """ServerName "testbed ftp"
ServerType standalone
DefaultAddress {ip}
Port 21
UseIPv6 off
User nobody
Group nogroup
PassivePorts {low} {high}
DefaultRoot {w}/ftp
RequireValidShell off
AuthOrder mod_auth_unix.c
MaxLoginAttempts {fails}
ScoreboardFile {w}/proftpd.scoreboard
PidFile {w}/proftpd.pid
WtmpLog off
UseReverseDNS off
AllowOverwrite on
SystemLog {w}/proftpd-system.log
"""
UNBOUND = """server:
  interface: {ip}
  port: 53
  do-daemonize: no
  username: ""
  chroot: ""
  pidfile: "{w}/unbound.pid"
  use-syslog: no
  logfile: ""
  verbosity: 1
  log-queries: yes
  module-config: "iterator"
  access-control: {subnet} allow
  local-zone: "testbed.lan." static
  local-data: "testbed.lan. SOA ns.testbed.lan. admin.testbed.lan. 1 3600 600 86400 60"
  local-data: "www.testbed.lan. A {ip}"
  local-data: "ftp.testbed.lan. A {ip}"
  local-data: "mail.testbed.lan. A {ip}"
  local-data: "testbed.lan. MX 10 mail.testbed.lan."
  local-data: 'testbed.lan. TXT "v=spf1 mx -all"'
  local-zone: "{zone}." redirect
  local-data: "{zone}. A {ip}"
{public}
remote-control:
  control-enable: no
"""
BIND = """options {{
  directory "{w}/bind";
  pid-file "{w}/named.pid";
  listen-on port 53 {{ {ip}; }};
  listen-on-v6 {{ none; }};
  recursion no;
  dnssec-validation no;
  allow-query {{ any; }};
}};
controls {{ }};
logging {{
  channel out {{ stderr; severity info; }};
  category default {{ out; }};
  category queries {{ out; }};
}};
zone "testbed.lan" {{ type primary; file "{w}/bind/testbed.lan.zone"; }};
"""
PUBLIC_ZONE_HEAD = """$TTL 300
@ IN SOA ns.testbed.lan. admin.testbed.lan. 1 3600 600 86400 60
@ IN NS ns.testbed.lan.
"""
BIND_ZONE = """$TTL 300
@ IN SOA ns.testbed.lan. admin.testbed.lan. 1 3600 600 86400 60
@ IN NS ns.testbed.lan.
@ IN MX 10 mail.testbed.lan.
@ IN TXT "v=spf1 mx -all"
ns IN A {ip}
www IN A {ip}
ftp IN A {ip}
mail IN A {ip}
*.t IN A {ip}
"""
MOSQUITTO = """listener 1883 {ip}
allow_anonymous true
user root
pid_file {w}/mosquitto.pid
log_dest stderr
"""
CHRONY = """bindaddress {ip}
allow {subnet}
local stratum 8
cmdport 0
pidfile {w}/chronyd.pid
driftfile {w}/chrony.drift
"""
SAMBA = """[global]
  netbios name = FILES
  workgroup = TESTBED
  interfaces = {ip}/24
  bind interfaces only = yes
  smb ports = 445
  disable netbios = yes
  server role = standalone server
  server min protocol = NT1
  ntlm auth = yes
  passdb backend = tdbsam:{w}/samba/private/passdb.tdb
  private dir = {w}/samba/private
  lock directory = {w}/samba/lock
  state directory = {w}/samba/state
  cache directory = {w}/samba/cache
  pid directory = {w}/samba
  ncalrpc dir = {w}/samba/ncalrpc
  load printers = no
  printing = bsd
  printcap name = /dev/null
  disable spoolss = yes
[files]
  path = {w}/ftp
  read only = no
  valid users = {user}
"""
POSTFIX = """compatibility_level = 3.6
queue_directory = {w}/postfix/spool
data_directory = {w}/postfix/data
inet_interfaces = {ip}
inet_protocols = ipv4
myhostname = mail.testbed.lan
mydomain = testbed.lan
mydestination = testbed.lan, mail.testbed.lan
mynetworks = {subnet}
maillog_file = /dev/stdout
mail_spool_directory = {w}/mail
alias_maps =
alias_database =
default_transport = error:nothing leaves the testbed
relay_transport = error:nothing leaves the testbed
"""
DOVECOT = """base_dir = {w}/dovecot-run
state_dir = {w}/dovecot-state
listen = {ip}
protocols = imap pop3
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
log_path = /dev/stderr
auth_verbose = yes
auth_failure_delay = {delay} secs
default_internal_user = dovecot
default_login_user = dovenull
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {users}
}}
userdb {{
  driver = static
  args = uid={user} gid={user} home={w}/mailroot/%u
}}
mail_location = mbox:{w}/mailroot/%u:INBOX={w}/mail/%u
"""
KRB5_CONF = """[libdefaults]
 default_realm = TESTBED.LAN
 dns_lookup_kdc = false
 dns_lookup_realm = false
[realms]
 TESTBED.LAN = {{
  kdc = {ip}
 }}
"""
KDC_CONF = """[kdcdefaults]
 kdc_listen = {ip}:88
 kdc_tcp_listen = {ip}:88
[realms]
 TESTBED.LAN = {{
  database_name = {w}/principal
  key_stash_file = {w}/stash
  acl_file = {w}/kadm5.acl
  max_life = 10h
  max_renewable_life = 7d
 }}
[logging]
 kdc = FILE:{w}/krb5kdc.log
"""
SNMPD = """rocommunity public {subnet}
sysLocation testbed rack 3
sysContact ops@testbed.lan
"""
