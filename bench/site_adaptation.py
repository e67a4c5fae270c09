"""Site adaptation measured on a site no model has seen: false alerts, attacks, time.

The site is a wide testbed world drawn from a seed no training recipe reads:
one long benign run of it, whose first ``--fit-minutes`` fit the adapter and
whose rest judges it, and one run of every attack the testbed stages, in the
same world (the seed draws the world). Printed, for the base model and with
the adapter, each through triage's sessions:

- false alerts on the later benign traffic: sessions (what an analyst reads)
  and their alerted flows, per 10,000 flows;
- attack steps of the attack run with an alert on their labelled flows, and
  with an alert of their own class;
- how long ``trafficlm adapt`` took, and on how many flows.

Then the feedback round: five false-positive marks on the base model's most
frequent false alert in the fitted part (triaged as 5-minute files, as a
sensor's rotating output would show it; one alert is one source's alerts on one
host, whatever their verdict), ``adapt --feedback``, the same numbers and that
alert's look-alikes (the same host pair's alerts) on the later traffic, and
the corpus whole-capture table of the base recipe with and without the
adapter (forgetting shows as a drop there). Last, a baseline with
an attack in it (the fitted hour plus the attack run's mixed capture): the
attack flows kept out of the fit, and the mixed attacks still alerted.

    sudo trafficlm testbed run --profile wide --seed 901 --seconds 1800 --no-mixed \\
        --scenarios <every wide benign scenario>,service_checks,inventory_sweep,ssh_checks \\
        --out tb/site/benign
    sudo trafficlm testbed run --profile wide --seed 901 --out tb/site/attacks
    python bench/site_adaptation.py --benign tb/site/benign/captures/benign.pcap \\
        --attacks tb/site/attacks --work runs/site --fit-minutes 22

(``service_checks``, ``inventory_sweep`` and ``ssh_checks`` are the site's
monitoring and inventory jobs, the recurring look-alikes a site adapter is for;
``trafficlm testbed list`` names the benign scenarios. The fitted part needs
``MARKS`` rotated files, 5 minutes each, for the feedback round to mark five
alerts in five files.)
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from trafficlm.model import DEFAULT_MODEL_DIR, TrafficModel
from trafficlm.sessions import SessionTable
from trafficlm.training.config import load_recipe
from trafficlm.training.corpus_detection import capture_sessions, corpus_detection
from trafficlm.training.data import unseen_manifest_captures

REPO = Path(__file__).resolve().parents[1]
MARKS = 5
MARK_FILE_MINUTES = 5  # how often the sensor's files rotate, as an analyst would see them
NOT_ATTACK_STEPS = ("benign", "mixed")


def trafficlm(*args: str) -> None:
    """Run the CLI as a user would (its own process, its own exit code checked)."""
    subprocess.run([sys.executable, "-m", "trafficlm.cli", *args], check=True)


def split_capture(pcap: Path, minutes: float, work: Path) -> tuple[Path, Path]:
    """The capture's first ``minutes`` and the rest, as two files."""
    line = subprocess.run(["capinfos", "-a", "-S", "-T", "-r", "-m", str(pcap)], check=True,
                          capture_output=True, text=True).stdout.strip()
    cut = float(line.rsplit(",", 1)[1]) + minutes * 60
    fit, later = work / "fit.pcap", work / "later.pcap"
    subprocess.run(["editcap", "-B", f"{cut:.6f}", str(pcap), str(fit)], check=True)
    subprocess.run(["editcap", "-A", f"{cut:.6f}", str(pcap), str(later)], check=True)
    return fit, later


def reported_flows(table: SessionTable):
    """The alerted flows of the sessions reported (not those held back)."""
    reported = table.sessions["session_id"].to_list()
    return table.flows.filter(table.flows["session_id"].is_in(reported))


def false_alerts(model: TrafficModel, pcap: Path) -> dict:
    flows, table = capture_sessions(model, str(pcap))
    sessions = table.sessions  # an empty one has no host columns
    pairs = Counter(map(pair_name, sessions["src_ip"], sessions["dst_ip"])
                    ) if sessions.height else Counter()
    return {"flows": flows, "sessions": sessions.height,
            "alerted_flows": reported_flows(table).height,
            "host_pairs": dict(pairs.most_common()),
            "verdicts": dict(Counter(sessions["verdict"]))}


def pair_name(source: str, destination: str) -> str:
    """How an alert is told apart from another here: its source and destination host."""
    return f"{source} -> {destination}"


def labelled_flows(run: Path, step: str) -> list[dict]:
    """The rows of a step's label file that are not BENIGN."""
    with open(run / "labels" / f"{step}.csv", encoding="utf-8") as rows:
        return [r for r in csv.DictReader(rows, skipinitialspace=True) if r["Label"] != "BENIGN"]


def attack_steps(run: Path) -> list[tuple[str, str, Path, set[int]]]:
    """(step, label, capture, the labelled attack flow ids) of every attack step."""
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    steps = []
    for step in manifest["steps"]:
        if step["name"] in NOT_ATTACK_STEPS or step["status"] != "ok":
            continue
        ids = {int(r["TrafficLM Flow ID"]) for r in labelled_flows(run, step["name"])
               if r["Label"] == step["label"]}
        steps.append((step["name"], step["label"], run / "captures" / f"{step['name']}.pcap", ids))
    return steps


def mixed_attacks(run: Path) -> list[tuple[str, str, Path, set[int]]]:
    """The mixed step's attacks, one entry per label, in ``attack_steps``'s shape."""
    rows = labelled_flows(run, "mixed")
    return [(f"mixed/{label}", label, run / "captures" / "mixed.pcap",
             {int(r["TrafficLM Flow ID"]) for r in rows if r["Label"] == label})
            for label in sorted({r["Label"] for r in rows})]


def attacked_baseline(model_dir: Path, fit: Path, run: Path, work: Path) -> dict:
    """Adapt on the fitted hour with the attack run's mixed capture in it: how many of its
    attack flows were kept out (their sources in the report's excluded list), and which of
    its attacks the base model and the adapter alert on."""
    out = work / "adapter-attacked"
    result = adapt(model_dir, [fit, run / "captures" / "mixed.pcap"], out)
    excluded = json.loads((out / "adapter.json").read_text(encoding="utf-8"))["excluded"]
    rows = labelled_flows(run, "mixed")
    attackers = {r["Source IP"] for r in rows}
    result["attack_flows"] = len(rows)
    result["excluded_from_attackers"] = sum(e["flows"] for e in excluded
                                            if e["src_ip"] in attackers)
    result["excluded_elsewhere"] = sum(e["flows"] for e in excluded
                                       if e["src_ip"] not in attackers)
    steps = mixed_attacks(run)
    result["base"] = attack_detection(TrafficModel(model_dir), steps)
    result["adapted"] = attack_detection(TrafficModel(model_dir, adapter=out), steps)
    return result


def attack_detection(model: TrafficModel, steps) -> dict:
    """Per attack step: alerted at all on its flows, and alerted as its own class."""
    out = {}
    for name, label, pcap, ids in steps:
        _, table = capture_sessions(model, str(pcap))
        reported = reported_flows(table)
        verdicts = set(reported.filter(reported["flow_id"].is_in(list(ids)))["verdict"].to_list())
        out[name] = {"label": label, "alerted": bool(verdicts),
                     "own_class": label in verdicts, "known_class": label in model.labels}
    return out


def adapt(model_dir: Path, captures: list[Path], out: Path, feedback: Path | None = None
          ) -> dict:
    started = time.monotonic()
    trafficlm("adapt", *map(str, captures), "--out", str(out), "--model", str(model_dir),
              *(["--feedback", str(feedback)] if feedback else []))
    report = json.loads((out / "adapter.json").read_text(encoding="utf-8"))
    return {"wall_seconds": round(time.monotonic() - started, 1),
            "flows_read": report["flows_read"], "fitted_part": report["flows_fitted_part"],
            "held_back": report["held_back_false_alerts"],
            "distinct_fitted": report["distinct_benign_fitted"]}


def mark_recurring_alert(model_dir: Path, fit: Path, work: Path) -> tuple[Path, str]:
    """Triage the fitted part as a sensor's rotating files (``MARK_FILE_MINUTES`` each), and
    mark ``MARKS`` alerts of the most frequent recurring one false positives, as an analyst
    would, each from another file where it can; returns (log, the alert's host pair).

    A recurring alert is one source's alerts on one host, whatever their verdict: a sweep
    is called PortScan in one file and UDPScan in the next, and its top port changes with
    what answered, but an analyst sees the same inventory host on the same servers."""
    chunks, log = work / "chunks", work / "feedback.jsonl"
    shutil.rmtree(chunks, ignore_errors=True)
    chunks.mkdir()
    log.unlink(missing_ok=True)
    subprocess.run(["editcap", "-i", str(MARK_FILE_MINUTES * 60), str(fit),
                    str(chunks / "part.pcap")], check=True)
    alerts = []
    for part in sorted(chunks.glob("part*.pcap")):
        eve = part.with_suffix(".eve.json")
        trafficlm("triage", str(part), "--model", str(model_dir), "--format", "eve",
                  "--out", str(eve))
        alerts += [(eve, json.loads(line)) for line in eve.read_text().splitlines()]
    alerts = [(eve, a) for eve, a in alerts if a.get("event_type") == "alert"]
    if not alerts:
        raise SystemExit(f"{fit}: the base model raises no alert to mark")
    pairs = Counter(pair_name(a["src_ip"], a["dest_ip"]) for _, a in alerts)
    pair = pairs.most_common(1)[0][0]
    chosen = spread_over_files([(eve, a) for eve, a in alerts
                                if pair_name(a["src_ip"], a["dest_ip"]) == pair])[:MARKS]
    for eve, alert in chosen:
        trafficlm("feedback", str(eve), "--session", str(alert["trafficlm"]["session_id"]),
                  "--verdict", "false-positive", "--feedback", str(log),
                  "--note", "site traffic, reviewed")
    marked = Counter(a["alert"]["signature"].removeprefix("TrafficLM ") for _, a in chosen)
    print(f"marked {len(chosen)} of {pairs[pair]} alerts of {pair} ({dict(marked)}, "
          f"in {len({eve for eve, _ in chosen})} files)")
    return log, pair


def spread_over_files(alerts: list[tuple[Path, dict]]) -> list[tuple[Path, dict]]:
    """The alerts reordered so that each file's first comes before any file's second (and
    so on), the order within a rank kept: marks taken from the front spread over files."""
    seen: Counter = Counter()
    ranks = []
    for eve, _ in alerts:
        ranks.append(seen[eve])
        seen[eve] += 1
    return [alert for _, alert in sorted(zip(ranks, alerts, strict=True), key=lambda r: r[0])]


def corpus_table(model: TrafficModel, recipe_path: Path) -> dict:
    """The whole-capture table of the corpus captures the base model's recipe never read."""
    recipe = load_recipe(recipe_path)
    return corpus_detection(model, unseen_manifest_captures(recipe), recipe.data.manifest_benign,
                            say=lambda line: None)["summary"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--benign", type=Path, required=True, help="the site's long benign run")
    parser.add_argument("--attacks", type=Path, required=True, help="an attack run, same seed")
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--recipe", type=Path, default=REPO / "configs/train/lab.toml",
                        help="the base model's recipe (which corpus captures it never read)")
    parser.add_argument("--fit-minutes", type=float, default=60.0)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    results: dict = {}
    fit, later = split_capture(args.benign, args.fit_minutes, args.work)
    results["adapt"] = adapt(args.model, [fit], args.work / "adapter")
    base = TrafficModel(args.model)
    adapted = TrafficModel(args.model, adapter=args.work / "adapter")
    steps = attack_steps(args.attacks)
    for name, model in (("base", base), ("adapted", adapted)):
        results[name] = {"later_benign": false_alerts(model, later),
                         "attacks": attack_detection(model, steps)}
        print(name, json.dumps(results[name]["later_benign"]))
    log, kind = mark_recurring_alert(args.model, fit, args.work)
    results["feedback"] = {"kind": kind, "marks": len(log.read_text().splitlines()),
                           "adapt": adapt(args.model, [fit], args.work / "adapter-fb", log)}
    marked = TrafficModel(args.model, adapter=args.work / "adapter-fb")
    results["feedback"]["later_benign"] = false_alerts(marked, later)
    results["feedback"]["attacks"] = attack_detection(marked, steps)
    results["attacked_baseline"] = attacked_baseline(args.model, fit, args.attacks, args.work)
    results["corpus"] = {"base": corpus_table(base, args.recipe),
                         "feedback_adapter": corpus_table(marked, args.recipe)}
    (args.work / "results.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    print_summary(results)


def print_summary(r: dict) -> None:
    def row(name: str, benign: dict, attacks: dict) -> str:
        per = 10_000 / max(1, benign["flows"])
        return (f"| {name} | {benign['sessions']} ({benign['sessions'] * per:.2f}) | "
                f"{benign['alerted_flows']} ({benign['alerted_flows'] * per:.1f}) | "
                f"{sum(a['alerted'] for a in attacks.values())} of {len(attacks)} | "
                f"{sum(a['own_class'] for a in attacks.values())} |")

    print(f"later benign flows: {r['base']['later_benign']['flows']:,}; adapt "
          f"{r['adapt']['wall_seconds'] / 60:.1f} min on {r['adapt']['flows_read']:,} flows")
    print("| model | false alerts (per 10k flows) | alerted flows (per 10k) | attack steps "
          "alerted | as their class |\n| --- | --- | --- | --- | --- |")
    print(row("base", r["base"]["later_benign"], r["base"]["attacks"]))
    print(row("site adapter", r["adapted"]["later_benign"], r["adapted"]["attacks"]))
    feedback = r["feedback"]
    print(row(f"adapter + {feedback['marks']} marks", feedback["later_benign"],
              feedback["attacks"]))
    kind = r["feedback"]["kind"]
    print(f"alerts of the marked pair {kind} on the later traffic: base "
          f"{r['base']['later_benign']['host_pairs'].get(kind, 0)}, site adapter "
          f"{r['adapted']['later_benign']['host_pairs'].get(kind, 0)}, with the marks "
          f"{r['feedback']['later_benign']['host_pairs'].get(kind, 0)}")
    for key in ("attacks_with_fitting_alert", "benign_with_any_alert"):
        print(f"corpus {key}: base {r['corpus']['base'][key]}, with the adapter "
              f"{r['corpus']['feedback_adapter'][key]}")
    attacked = r["attacked_baseline"]
    print(f"baseline with the mixed attacks in it: {attacked['excluded_from_attackers']:,} of "
          f"{attacked['attack_flows']:,} attack flows' sources excluded "
          f"({attacked['excluded_elsewhere']:,} other flows excluded); mixed attacks alerted: "
          f"base {sum(a['alerted'] for a in attacked['base'].values())}, adapter "
          f"{sum(a['alerted'] for a in attacked['adapted'].values())} of {len(attacked['base'])}")
    for name, attacks in (("the adapter", r["adapted"]["attacks"]),
                          ("the adapter with the marks", feedback["attacks"])):
        missed = [n for n, a in attacks.items()
                  if r["base"]["attacks"][n]["alerted"] and not a["alerted"]]
        print(f"attack steps the base model alerted and {name} did not: {missed or 'none'}")


if __name__ == "__main__":
    main()
