"""Analyst feedback: the hash-chained log, the review server, and the page in real Chromium."""

from __future__ import annotations

import json
import shutil
import threading
import urllib.error
import urllib.request

import pytest

from trafficlm.cli import main
from trafficlm.feedback import FeedbackError, Mark, alert_for_session, append, read_log
from trafficlm.review import serve

from conftest import REPO
from eve_files import alerts as eve_alerts

HOSTILE = '<img src=x onerror="document.title=\'pwned\'">'


@pytest.fixture(scope="module")
def eve(tmp_path_factory):
    """Real triage alerts of the bundled capture, plus one whose fields are hostile markup."""
    path = tmp_path_factory.mktemp("review") / "alerts.eve"
    assert main(["triage", str(REPO / "pcaps" / "testbed-mixed.pcap"), "--format", "eve",
                 "--out", str(path)]) == 0
    alerts = eve_alerts(path)
    assert len(alerts) >= 3
    hostile = json.loads(json.dumps(alerts[0]))
    hostile["trafficlm"]["session_id"] = 999
    hostile["trafficlm"]["protocol_fields"] = f"HTTP GET; URI /{HOSTILE}"
    hostile["trafficlm"]["explanation"] = HOSTILE
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps(hostile) + "\n")
    return path


def test_the_log_chains_its_lines_and_refuses_an_edit(eve, tmp_path):
    log = tmp_path / "feedback.jsonl"
    first = append(log, alert_for_session(eve, 1), Mark("false-positive", note="nightly backup"))
    second = append(log, alert_for_session(eve, 2), Mark("true-positive", "PortScan"))
    assert second["prev"] == first["hash"] and len(read_log(log)) == 2
    assert first["content_hashes"] == alert_for_session(eve, 1)["trafficlm"]["content_hashes"]
    assert first["content_hashes"]  # the flows the alert was raised on, by token content

    lines = log.read_text().splitlines()
    log.write_text(lines[0].replace("nightly backup", "nothing") + "\n" + lines[1] + "\n")
    with pytest.raises(FeedbackError, match=r"feedback.jsonl:1: its content does not match"):
        read_log(log)
    with pytest.raises(FeedbackError, match=":1:"):
        append(log, alert_for_session(eve, 3), Mark("false-positive"))  # nothing appended
    assert len(log.read_text().splitlines()) == 2

    log.write_text(lines[1] + "\n")  # the first line removed
    with pytest.raises(FeedbackError, match=r":1: does not follow line 0"):
        read_log(log)


def test_bad_marks_are_named(eve, tmp_path):
    log = tmp_path / "f.jsonl"
    with pytest.raises(FeedbackError, match="verdict 'maybe'"):
        append(log, alert_for_session(eve, 1), Mark("maybe"))
    with pytest.raises(FeedbackError, match="a class goes with a true-positive"):
        append(log, alert_for_session(eve, 1), Mark("false-positive", "PortScan"))
    with pytest.raises(FeedbackError, match="no TrafficLM alert with session id 77"):
        alert_for_session(eve, 77)
    assert not log.exists()


def test_the_command_line_appends_and_refuses_a_tampered_log(eve, tmp_path, capsys):
    log = tmp_path / "cli.jsonl"
    assert main(["feedback", str(eve), "--session", "1", "--verdict", "false-positive",
                 "--feedback", str(log)]) == 0
    log.write_text(log.read_text().replace('"false-positive"', '"true-positive"'))
    capsys.readouterr()
    assert main(["feedback", str(eve), "--session", "2", "--verdict", "true-positive",
                 "--feedback", str(log)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{log}:1:" in err


@pytest.fixture
def server(eve, tmp_path):
    httpd = serve(eve, tmp_path / "review.jsonl", port=0)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd, tmp_path / "review.jsonl"
    httpd.shutdown()
    httpd.server_close()


def test_review_listens_on_loopback_and_wants_its_token(server):
    httpd, log = server
    host, port = httpd.server_address[:2]
    assert host == "127.0.0.1"
    request = urllib.request.Request(f"http://{host}:{port}/feedback", method="POST",
                                     data=b'{"session_id": 1, "verdict": "false-positive"}')
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 403 and not log.exists()
    page = urllib.request.urlopen(f"http://{host}:{port}/", timeout=5)
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    html = page.read().decode()
    assert "http://" not in html.replace(f"http://{host}", "") and "https://" not in html


needs_browser = pytest.mark.skipif(
    shutil.which("chromium") is None or shutil.which("chromedriver") is None,
    reason="Debian's chromium and chromium-driver are not installed")


@needs_browser
@pytest.mark.slow
def test_in_chromium_an_analyst_filters_and_marks_an_alert(server, eve, tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    httpd, log = server
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    try:
        browser.get(f"http://127.0.0.1:{httpd.server_address[1]}/")
        wait = WebDriverWait(browser, 20)
        wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, ".alert"))
        alerts = eve_alerts(eve)
        count = browser.find_element(By.ID, "count")
        assert count.text == f"{len(alerts)} of {len(alerts)} alert(s)"

        hostile = browser.find_element(By.CSS_SELECTOR, '.alert[data-session="999"]')
        assert HOSTILE in hostile.text and browser.title == "TrafficLM review"  # shown, not run

        signature = alerts[1]["alert"]["signature"]
        Select(browser.find_element(By.ID, "f-class")).select_by_visible_text(signature)
        same = sum(a["alert"]["signature"] == signature for a in alerts)
        assert count.text == f"{same} of {len(alerts)} alert(s)"
        Select(browser.find_element(By.ID, "f-class")).select_by_visible_text("all")
        browser.find_element(By.ID, "f-host").send_keys("10.203.0.20")
        involved = sum("10.203.0.20" in (a["src_ip"], a["dest_ip"]) for a in alerts)
        assert count.text == f"{involved} of {len(alerts)} alert(s)"
        browser.find_element(By.ID, "f-host").clear()
        browser.execute_script("document.getElementById('f-host').dispatchEvent("
                               "new Event('input'))")

        session = alerts[1]["trafficlm"]["session_id"]
        card = browser.find_element(By.CSS_SELECTOR, f'.alert[data-session="{session}"]')
        card.find_element(By.CSS_SELECTOR, 'button[data-verdict="false-positive"]').click()
        wait.until(lambda b: "marked false-positive" in card.text)
    finally:
        browser.quit()
    records = read_log(log)
    assert [(r["alert"]["session_id"], r["verdict"], r["analyst"]) for r in records] == [
        (session, "false-positive", "review page")]


def test_review_will_not_start_on_a_tampered_log(eve, tmp_path, capsys):
    log = tmp_path / "t.jsonl"
    append(log, alert_for_session(eve, 1), Mark("false-positive"))
    log.write_text(log.read_text().replace('"false-positive"', '"true-positive"'))
    assert main(["review", str(eve), "--feedback", str(log), "--port", "0"]) == 1
    assert f"{log}:1: its content does not match its hash" in capsys.readouterr().err
