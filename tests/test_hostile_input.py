"""Offline input as a hostile user or an unlucky operator makes it: outputs over inputs,
concatenated pcapng, damaged gzip, hostile pcapng options, pipes and odd directory
entries. Each answer is one line and a partial result, or one line before any work;
never a traceback, and never a packet lost that lay before the damage."""

from __future__ import annotations

import gzip
import os
import pwd
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import pytest

from trafficlm.capture import CaptureReport, find_captures, read_records
from trafficlm.cli import main
from trafficlm.errors import CaptureError

from capture_files import Frame, pcapng_section
from conftest import CORPUS, REPO
from eve_files import eve_events

DEMO = str(REPO / "pcaps" / "testbed-mixed.pcap")
CHRIS = CORPUS / "chrissanders-packets"
SECTIONS = ["http_google.pcapng", "dns_tcp.pcapng", "icmp_echo.pcapng", "http_post.pcapng"]


def packets(path: Path | str) -> tuple[int, CaptureReport]:
    """(records read, the report) of one capture, whatever ends it."""
    report = CaptureReport(str(path))
    count = 0
    try:
        for batch in read_records(str(path), report):
            count += len(batch)
    except CaptureError as err:
        report.error = err
    return count, report


def cli(*args: str, stdin=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "trafficlm.cli", *args], capture_output=True,
                          text=True, timeout=300, stdin=stdin)


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.stderr


# --- 9: outputs that name an input --------------------------------------------------

def test_out_naming_the_input_is_refused_and_the_capture_kept(tmp_path):
    capture = tmp_path / "x.pcap"
    shutil.copy(DEMO, capture)
    size = capture.stat().st_size
    proc = cli("flows", "--out", str(capture), str(capture))
    assert proc.returncode == 1
    assert "is one of the input captures; refusing to overwrite it" in one_line_error(proc)
    assert capture.stat().st_size == size


def test_html_naming_the_input_is_refused(tmp_path):
    capture = tmp_path / "y.pcap"
    shutil.copy(DEMO, capture)
    link = tmp_path / "report.html"
    link.symlink_to(capture)  # the same file under another name
    proc = cli("triage", "--html", str(link), str(capture))
    assert proc.returncode == 1 and "refusing to overwrite" in one_line_error(proc)
    assert capture.read_bytes()[:4] == b"\xd4\xc3\xb2\xa1"


def test_an_output_inside_an_input_directory_is_not_read(tmp_path):
    shutil.copy(DEMO, tmp_path / "a.pcap")
    found = find_captures([str(tmp_path)], [str(tmp_path / "out.pcap")])
    (tmp_path / "out.pcap").write_bytes(b"")
    assert found.paths == [str(tmp_path / "a.pcap")]
    assert find_captures([str(tmp_path)], [str(tmp_path / "out.pcap")]).paths == found.paths


# --- 10: pcapng of many sections ------------------------------------------------------

@pytest.mark.skipif(not shutil.which("tshark"), reason="tshark counts the reference")
def test_concatenated_pcapng_reads_every_packet_tshark_reads(tmp_path, manifest):
    joined = tmp_path / "four.pcapng"
    joined.write_bytes(b"".join((CHRIS / name).read_bytes() for name in SECTIONS))
    expected = subprocess.run(["tshark", "-r", str(joined), "-T", "fields", "-e",
                               "frame.number"], capture_output=True, text=True,
                              check=True).stdout.split()
    count, report = packets(joined)
    assert count == len(expected) == sum(packets(CHRIS / n)[0] for n in SECTIONS)
    assert not report.warnings and report.error is None


def test_two_thousand_sections_read_whole(tmp_path):
    frame = Frame(1_700_000_000_000_000_000, bytes(60))
    path = tmp_path / "many.pcapng"
    path.write_bytes(b"".join(pcapng_section([frame]) for _ in range(2000)))
    count, report = packets(path)
    assert count == 2000 and not report.warnings


# --- 11: damaged gzip -----------------------------------------------------------------

def whole_records(data: bytes) -> int:
    """Records of a pcap held whole in ``data`` (the reference count)."""
    at, count = 24, 0
    while at + 16 <= len(data):
        size = struct.unpack_from("<I", data, at + 8)[0]
        if at + 16 + size > len(data):
            break
        at, count = at + 16 + size, count + 1
    return count


def test_cut_gzip_keeps_what_was_inflated_and_names_the_cut(tmp_path):
    raw = Path(DEMO).read_bytes()
    packed = gzip.compress(raw)
    cut = tmp_path / "cut.pcap.gz"
    cut.write_bytes(packed[:200_000])
    count, report = packets(cut)
    inflated = zlib.decompressobj(31).decompress(packed[:200_000])
    assert count == whole_records(inflated) > 4000
    assert "cut short at byte 200000 of the file" in report.warnings[0]


def test_gzip_with_trailing_junk_reads_everything(tmp_path):
    raw = Path(DEMO).read_bytes()
    junk = tmp_path / "junk.pcap.gz"
    junk.write_bytes(gzip.compress(raw) + b"trailing garbage")
    count, report = packets(junk)
    assert count == whole_records(raw)
    assert "16 bytes after the end of the compressed data" in report.warnings[0]


def test_concatenated_gzip_members_read_as_one(tmp_path):
    raw = Path(DEMO).read_bytes()
    path = tmp_path / "members.pcap.gz"
    path.write_bytes(gzip.compress(raw[:100_000]) + gzip.compress(raw[100_000:]))
    count, report = packets(path)
    assert count == whole_records(raw) and not report.warnings


# --- 12: hostile pcapng interface options ---------------------------------------------

def interface_block(tsresol: int | None = None, tsoffset: int | None = None) -> bytes:
    options = b""
    if tsresol is not None:
        options += struct.pack("<HHB3x", 9, 1, tsresol)
    if tsoffset is not None:
        options += struct.pack("<HHq", 14, 8, tsoffset)
    body = struct.pack("<HHI", 1, 0, 65535) + options + struct.pack("<HH", 0, 0)
    return struct.pack("<II", 1, len(body) + 12) + body + struct.pack("<I", len(body) + 12)


def packet_block(raw_ts: int, data: bytes = bytes(60)) -> bytes:
    body = struct.pack("<IIIII", 0, raw_ts >> 32, raw_ts & 0xFFFFFFFF, len(data), len(data))
    body += data + b"\0" * (-len(data) % 4)
    return struct.pack("<II", 6, len(body) + 12) + body + struct.pack("<I", len(body) + 12)


def section_header() -> bytes:
    body = struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)
    return struct.pack("<II", 0x0A0D0D0A, len(body) + 12) + body + struct.pack(
        "<I", len(body) + 12)


@pytest.mark.parametrize(("tsresol", "tsoffset", "message"), [
    (0x7F, None, "if_tsresol 127 is not a usable resolution"),
    (0xFF, None, "if_tsresol 0xff is not a usable resolution"),
    (None, 2**62, "if_tsoffset"),
    (None, -(2**62), "if_tsoffset"),
])
def test_unusable_interface_options_stop_the_file_after_its_packets(
        tmp_path, tsresol, tsoffset, message):
    good = section_header() + interface_block() + packet_block(1_700_000_000_000_000) * 3
    path = tmp_path / "hostile.pcapng"
    path.write_bytes(good + section_header() + interface_block(tsresol, tsoffset)
                     + packet_block(5))
    count, report = packets(path)
    assert count == 3
    assert message in str(report.error) and report.error.offset == len(good) + 28


@pytest.mark.parametrize("tsresol", [0, 0x80])
def test_timestamps_beyond_int64_nanoseconds_are_an_error_not_a_wrap(tmp_path, tsresol):
    """In whole seconds, 2^40 s is year 36812: no real packet, and times * 10^9 would wrap."""
    path = tmp_path / "far.pcapng"
    path.write_bytes(section_header() + interface_block(tsresol) + packet_block(1_700_000_000)
                     + packet_block(2**40))
    count, report = packets(path)
    assert count == 1
    assert "timestamp out of range" in str(report.error)


def test_a_hostile_file_does_not_cost_the_rest_of_a_directory(tmp_path):
    (tmp_path / "a.pcapng").write_bytes(section_header() + interface_block(0x7F))
    shutil.copy(DEMO, tmp_path / "b.pcap")
    out = tmp_path / "flows.jsonl"
    proc = cli("flows", "--format", "jsonl", "--out", str(out), str(tmp_path))
    assert proc.returncode == 3
    assert "if_tsresol 127" in one_line_error(proc)
    assert len(out.read_text().splitlines()) == 1596  # every flow of b.pcap


# --- 13: pipes, FIFOs, dangling links, unreadable folders -----------------------------

def test_a_capture_from_a_pipe(tmp_path):
    """`cat x.pcap | trafficlm flows /dev/stdin`: nothing may seek or ask for a size."""
    cat = subprocess.Popen(["cat", DEMO], stdout=subprocess.PIPE)
    proc = cli("flows", "--format", "jsonl", "/dev/stdin", stdin=cat.stdout)
    cat.stdout.close()
    assert cat.wait(30) == 0
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == 1596


def test_fifos_and_dangling_links_in_a_directory_are_named(tmp_path, capsys):
    shutil.copy(DEMO, tmp_path / "a.pcap")
    os.mkfifo(tmp_path / "b.pcap")
    (tmp_path / "c.pcap").symlink_to(tmp_path / "gone.pcap")
    assert main(["flows", "--out", str(tmp_path / "o.jsonl"), str(tmp_path)]) == 3
    err = capsys.readouterr().err
    assert f"{tmp_path / 'b.pcap'}: not a regular file" in err
    assert f"{tmp_path / 'c.pcap'}: a symbolic link to nothing" in err


def test_an_unreadable_folder_is_named(request):
    """Root reads every folder, so the scan runs as nobody in a child process."""
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user 'nobody' to scan as")
    if os.geteuid() != 0:
        pytest.skip("switching to nobody needs root")
    top = Path(tempfile.mkdtemp(prefix="trafficlm-scan-"))  # pytest's tmp is root's alone
    request.addfinalizer(lambda: shutil.rmtree(top))
    (top / "locked").mkdir()
    (top / "locked").chmod(0o000)
    top.chmod(0o755)
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child's report comes back through the pipe
        try:
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            os.write(write_end, "\n".join(find_captures([str(top)]).skipped).encode())
        finally:
            os._exit(0)  # never back into pytest as nobody, whatever happened
    os.close(write_end)
    os.waitpid(child, 0)
    with os.fdopen(read_end) as pipe:
        skipped = pipe.read()
    assert f"{top / 'locked'}: cannot read this folder" in skipped


# --- 14: write errors ------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path):
    """A 256 KiB tmpfs: a disk that fills for real."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a small tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(disk)], check=True)
    yield disk
    subprocess.run(["umount", str(disk)], check=True)


def test_a_full_disk_leaves_whole_lines_and_one_message(small_disk):
    out = small_disk / "flows.jsonl"
    proc = cli("flows", "--format", "jsonl", "--out", str(out), DEMO)
    assert proc.returncode == 3
    message = one_line_error(proc)
    assert f"{out}: cannot write: No space left on device" in message
    text = out.read_text()
    assert text.endswith("\n") and all(line.startswith("{") for line in text.splitlines())


def test_a_full_disk_for_parquet_and_a_file_that_takes_no_writes(small_disk):
    with open(small_disk / "filler", "wb", buffering=0) as filler, pytest.raises(OSError):
        while True:  # bounded by the 256 KiB disk
            filler.write(bytes(4096))
    proc = cli("flows", "--format", "parquet", "--out", str(small_disk / "f.parquet"), DEMO)
    assert proc.returncode == 3 and "No space left" in one_line_error(proc)
    proc = cli("flows", "--out", "/proc/version", DEMO)
    assert proc.returncode in (1, 3) and "/proc/version" in one_line_error(proc)


def test_extract_into_a_full_disk_keeps_the_report(small_disk, tmp_path):
    report = tmp_path / "report.eve"
    proc = cli("triage", "--format", "eve", "--out", str(report), "--extract",
               str(small_disk), DEMO)
    assert proc.returncode == 3
    assert "cannot write the session's packets" in one_line_error(proc)
    # the report is whole: an alert per session, then what the run counted
    events = eve_events(report)
    assert [e["event_type"] for e in events] == ["alert"] * 6 + ["stats"]


# --- 15: extracts afresh, never through a link ------------------------------------------

def test_extract_twice_gives_the_same_files_and_never_follows_links(tmp_path):
    out = tmp_path / "sessions"
    assert cli("triage", "--extract", str(out), DEMO).returncode == 0
    first = {p.name: p.stat().st_size for p in out.iterdir()}
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    planted = out / sorted(first)[0]
    planted.unlink()
    planted.symlink_to(victim)
    assert cli("triage", "--extract", str(out), DEMO).returncode == 0
    assert {p.name: p.stat().st_size for p in out.iterdir()} == first
    assert victim.read_text() == "keep me" and not planted.is_symlink()
