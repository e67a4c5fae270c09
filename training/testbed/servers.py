"""Real servers in the server namespace: nginx (HTTP, TLS) in front of the web app,
OpenSSH, vsftpd, dnsmasq, mosquitto and iperf3, each configured from scratch in
the run's work directory so nothing on the host is read or changed (but for
one throwaway login account, removed again at the end).
"""

from __future__ import annotations

import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from trafficlm.training.testbed.shell import TestbedError, in_ns, run, start
from trafficlm.training.testbed.topology import Topology, address

LOGIN_USER, LOGIN_PASSWORD = "tlmtb", "tlmtb-Passw0rd"
WEBAPP_PORT = 8081
TCP_PORTS = (21, 22, 53, 80, 443, 1883, 5201)
UDP_PORTS = (53,)


@dataclass
class Servers:
    """Starts every server inside the topology's server namespace."""

    topology: Topology
    work: Path

    def start(self, stack: ExitStack) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        stack.enter_context(ThrowawayUser())
        self._write_site()
        self._keys()
        server = self.topology.ns("server")
        for name, args in self._commands().items():
            process = start(in_ns(server, args), self.work / f"{name}.log")
            stack.callback(_stop, process)
        self._wait_listening(server)

    def _commands(self) -> dict[str, list[str]]:
        w, ip = self.work, address("server")
        return {
            "webapp": [sys.executable, "-m", "trafficlm.training.testbed.webapp",
                       str(WEBAPP_PORT)],
            "nginx": ["nginx", "-c", str(self._config("nginx.conf", NGINX.format(w=w, ip=ip))),
                      "-g", "daemon off;"],
            "sshd": ["/usr/sbin/sshd", "-D", "-e", "-f",
                     str(self._config("sshd_config", SSHD.format(w=w, ip=ip,
                                                                  user=LOGIN_USER)))],
            "vsftpd": ["/usr/sbin/vsftpd", str(self._config("vsftpd.conf",
                                                           VSFTPD.format(w=w, ip=ip)))],
            "dnsmasq": ["dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts",
                        "--bind-interfaces", f"--listen-address={ip}", "--log-queries",
                        "--local=/testbed.lan/",  # authoritative: NXDOMAIN, not REFUSED
                        "--log-facility=-", "--user=root", f"--pid-file={w}/dnsmasq.pid",
                        *(f"--host-record={h}.testbed.lan,{ip}" for h in ("www", "ftp", "mail")),
                        "--mx-host=testbed.lan,mail.testbed.lan",
                        '--txt-record=testbed.lan,"v=spf1 mx -all"',
                        f"--address=/t.testbed.lan/{address('server')}"],
            "mosquitto": ["mosquitto", "-c", str(self._config("mosquitto.conf",
                                                              MOSQUITTO.format(w=w, ip=ip)))],
            "iperf3": ["iperf3", "-s", "-B", ip],
        }

    def _config(self, name: str, text: str) -> Path:
        path = self.work / name
        path.write_text(text, encoding="utf-8")
        return path

    def _write_site(self) -> None:
        www = self.work / "www"
        (www / "docs").mkdir(parents=True, exist_ok=True)
        (www / "index.html").write_text(PAGE.format(title="TrafficLM testbed shop",
                                                    body=LINKS), encoding="utf-8")
        for i in range(20):
            (www / "docs" / f"page{i}.html").write_text(
                PAGE.format(title=f"Document {i}", body="<p>lorem ipsum</p>" * (i + 1) * 20),
                encoding="utf-8")
        (www / "download.bin").write_bytes(bytes(range(256)) * 8192)  # 2 MiB
        ftp = self.work / "ftp"
        ftp.mkdir(exist_ok=True)
        for i in range(5):
            (ftp / f"report{i}.txt").write_text("quarterly numbers\n" * 2000 * (i + 1))
        run(["chmod", "-R", "a+rwX", str(ftp)])
        empty = self.work / "empty"
        empty.mkdir(exist_ok=True)
        empty.chmod(0o755)
        Path("/run/sshd").mkdir(exist_ok=True)

    def _keys(self) -> None:
        w = self.work
        if not (w / "ssh_host_ed25519_key").exists():
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                 str(w / "ssh_host_ed25519_key")])
        if not (w / "cert.pem").exists():
            run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                 "-subj", "/CN=www.testbed.lan", "-keyout", str(w / "key.pem"),
                 "-out", str(w / "cert.pem")])

    def _wait_listening(self, server: str, seconds: float = 15.0) -> None:
        deadline = time.monotonic() + seconds
        while True:
            tcp = run(in_ns(server, ["ss", "-Hltn"])).stdout
            udp = run(in_ns(server, ["ss", "-Hlun"])).stdout
            missing = [f"tcp/{p}" for p in TCP_PORTS if f":{p} " not in tcp] + [
                f"udp/{p}" for p in UDP_PORTS if f":{p} " not in udp]
            if not missing:
                return
            if time.monotonic() > deadline:
                raise TestbedError(f"servers not listening after {seconds:.0f} s: "
                                   f"{', '.join(missing)} (logs in {self.work})")
            time.sleep(0.2)


class ThrowawayUser:
    """A login account for SSH and FTP, created for the run unless it already exists."""

    def __enter__(self) -> ThrowawayUser:
        self.created = run(["id", LOGIN_USER], check=False).returncode != 0
        if self.created:
            run(["useradd", "--no-create-home", "--home-dir", "/tmp", "--shell", "/bin/bash",
                 LOGIN_USER])
        subprocess.run(["chpasswd"], input=f"{LOGIN_USER}:{LOGIN_PASSWORD}\n", text=True,
                       check=True, capture_output=True)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.created:
            run(["userdel", LOGIN_USER], check=False)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()


PAGE = "<html><head><title>{title}</title></head><body><h1>{title}</h1>{body}</body></html>"
LINKS = "".join(f'<a href="/docs/page{i}.html">doc {i}</a>' for i in range(20)) + (
    '<a href="/search?q=router">search</a><a href="/login">sign in</a>')
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
    listen {ip}:443 ssl;
    ssl_certificate {w}/cert.pem;
    ssl_certificate_key {w}/key.pem;
    root {w}/www;
    location /login {{ proxy_pass http://127.0.0.1:8081; }}
    location /search {{ proxy_pass http://127.0.0.1:8081; }}
  }}
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
MaxAuthTries 1
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
pasv_min_port=40000
pasv_max_port=40100
delay_failed_login=1
max_login_fails=1
"""
MOSQUITTO = """listener 1883 {ip}
allow_anonymous true
user root
pid_file {w}/mosquitto.pid
log_dest stderr
"""
