"""The `trafficlm` command line: formats, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from trafficlm.cli import main

from conftest import CORPUS, REPO

DEMO = str(REPO / "pcaps" / "loopback-http.pcap")
CONTRACT = ["flow_id", "start", "end", "src_ip", "src_port", "dst_ip", "dst_port", "proto",
            "packets_fwd", "packets_bwd", "bytes_fwd", "bytes_bwd"]


def test_jsonl_is_one_object_per_flow_with_the_contract_fields(capsys):
    assert main(["flows", DEMO, "--format", "jsonl"]) == 0
    lines = capsys.readouterr().out.splitlines()
    flows = [json.loads(line) for line in lines]
    assert len(flows) == 24  # 12 page requests and 12 misses, one connection each
    for flow in flows:
        assert list(flow)[: len(CONTRACT)] == CONTRACT
        assert flow["proto"] == "TCP" and flow["dst_port"] == 8765
        assert flow["end_reason"] == "fin"


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_file_formats_round_trip_through_polars(tmp_path, fmt):
    out = tmp_path / f"flows.{fmt}"
    assert main(["flows", DEMO, "--format", fmt, "--out", str(out)]) == 0
    reader = {"csv": pl.read_csv, "parquet": pl.read_parquet, "jsonl": pl.read_ndjson}[fmt]
    frame = reader(out)
    assert frame.columns[: len(CONTRACT)] == CONTRACT
    assert frame.height == 24
    assert frame["packets_fwd"].sum() + frame["packets_bwd"].sum() > 24 * 8


def test_table_is_readable_and_directories_are_searched(capsys, tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.pcap").write_bytes(Path(DEMO).read_bytes())
    (tmp_path / "notes.txt").write_text("not a capture")
    assert main(["flows", str(tmp_path)]) == 0
    out = capsys.readouterr()
    header, *rows = out.out.splitlines()
    assert header.split()[:4] == ["flow_id", "start", "src_ip", "src_port"]
    assert len(rows) == 24
    assert "1 capture(s)" in out.err


def test_skipped_input_exits_3_and_names_it(capsys, manifest):
    radiotap = CORPUS / "chrissanders-packets" / "3e80211_wepauth.pcapng"
    assert main(["flows", DEMO, str(radiotap)]) == 3
    err = capsys.readouterr().err
    assert "unsupported link type 127 (IEEE802_11_RADIOTAP)" in err and str(radiotap) in err


def test_a_bad_file_does_not_stop_the_others(capsys, tmp_path):
    bad = tmp_path / "bad.pcap"
    bad.write_text("hello")
    assert main(["flows", str(bad), DEMO, "--format", "jsonl"]) == 3
    out = capsys.readouterr()
    assert len(out.out.splitlines()) == 24
    assert f"{bad} at byte 0: not a pcap or pcapng capture" in out.err


def test_nothing_readable_exits_1(capsys, tmp_path):
    assert main(["flows", str(tmp_path / "nope.pcap")]) == 1
    assert "cannot open" in capsys.readouterr().err


def test_unwritable_output_fails_before_reading(capsys, tmp_path):
    assert main(["flows", DEMO, "--out", str(tmp_path / "no" / "such" / "dir.jsonl")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot write" in err


def test_usage_errors_exit_2():
    with pytest.raises(SystemExit) as exc:
        main(["flows"])
    assert exc.value.code == 2


def test_console_script_runs_without_traceback_on_garbage(tmp_path):
    garbage = tmp_path / "garbage.pcapng"
    garbage.write_bytes(b"\x0a\x0d\x0d\x0a" + os.urandom(200))
    proc = subprocess.run([sys.executable, "-m", "trafficlm.cli", "flows", str(garbage)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode in (1, 3)
    assert "Traceback" not in proc.stderr
    assert str(garbage) in proc.stderr


MODULES_AFTER = """
import contextlib, io, sys
from trafficlm.cli import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
    main(sys.argv[2:])
print(" ".join(m for m in sys.argv[1].split(",") if m in sys.modules))
"""
MODEL_LIBRARIES = "torch,transformers,ray"
ANY_LIBRARY = "torch,transformers,ray,numpy,polars,tqdm"


@pytest.mark.parametrize(("argv", "unwanted"), [
    (["--help"], ANY_LIBRARY), (["triage", "--help"], ANY_LIBRARY),
    (["sensor", "--help"], ANY_LIBRARY), (["flows", DEMO], MODEL_LIBRARIES),
    (["tokenize", DEMO], MODEL_LIBRARIES), (["testbed", "list"], MODEL_LIBRARIES)])
def test_commands_import_only_what_they_use(argv, unwanted):
    """Importing torch costs a second, numpy and polars a tenth each: `flows` must not pay
    for the model, and `--help` (every parser is built on each start) for anything."""
    proc = subprocess.run([sys.executable, "-c", MODULES_AFTER, unwanted, *argv],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""
