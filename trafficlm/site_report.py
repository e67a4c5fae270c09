"""ADAPTER.md: what a site adapter was fitted on and what it changed, for a person to check."""

from __future__ import annotations


def adapter_report(r: dict) -> str:
    alerts = r["held_back_false_alerts"]
    held = max(1, r["flows_held_back"])
    lines = [
        f"# Site adapter for {r['base_model']['name']}", "",
        f"- base model: `{r['base_model']['path']}` (weights SHA-256 "
        f"`{r['base_model']['sha256']}`); the adapter loads on no other",
        f"- fitted in {r['seconds'] / 60:.1f} min on {r['flows_read']:,} flows read",
        f"- not read (over the {r['max_site_flows']:,}-flow cap): "
        f"{r['unread_flows']:,} flows; distinct sequences over the cap: "
        f"{r['distinct_sequences_over_cap']:,}", "",
        "## Captures", "", "| capture | SHA-256 | flows |", "| --- | --- | --- |",
        *(f"| `{c['path']}` | `{c['sha256'][:16]}` | "
          f"{c['flows'] if c['read'] else 'not read (cap)'} |" for c in r["captures"]), "",
        "## What the fit used", "",
        f"- first {r['flows_fitted_part']:,} flows by start time (the last "
        f"{r['flows_held_back']:,}, less those the base model calls attacks, judge the "
        "adapter)",
        f"- {r['distinct_benign_fitted']:,} distinct benign site sequences "
        f"({r['distinct_base_alerted_fitted']:,} of them ones the base model alerted on, "
        "which go first; "
        f"{r['distinct_benign_not_fitted']:,} more left out over the "
        f"{r['max_fit_sequences']:,}-sequence cap), and "
        f"{r['distinct_benign_for_threshold']:,} more held out to set the site gate's radius",
        f"- {r['rehearsal_flows']:,} rehearsed flows of the base model's classes (so its attack "
        "classes are not forgotten)",
        f"- where it decides: within {r['site_gate']['radius']} (Mahalanobis) of "
        f"{r['site_gate']['centres']} site centres; every other flow keeps the base model's "
        "verdict",
        f"- feedback: {r['feedback']['lines']} line(s) of `{r['feedback']['path']}`: "
        f"{r['feedback_false_positive_sequences']} false-positive and "
        f"{r['feedback_true_positive_sequences']} true-positive sequence(s) found in the site's "
        "flows", "",
        "## Excluded: the attacks the base model found in the baseline", "",
        f"{r['flows_excluded_as_attacks']:,} flows of the fitted part were kept out of the fit ("
        + ", ".join(f"{n:,} {why}" for why, n in r["flows_excluded_by_reason"].items()) + "). "
        "An episode is one source's alerted flows to one host with no gap over 5 minutes; a "
        "one-off burst, a host pair's 10 or more alerted flows within a quarter of the "
        "baseline's span, which takes the pair's other flows from 5 minutes before it to 5 "
        "minutes after with it. A baseline may hold an attack; an analyst's false-positive mark "
        "brings a flow back in. Every flow read that was kept out, held-back part included:", "",
        "| source | destination | ports | base verdict | why | flows |",
        "| --- | --- | --- | --- | --- | --- |",
        *(f"| {e['src_ip']} | {e['dst_ip']} | {e['dst_ports']} | {e['class']} | {e['reason']} "
          f"| {e['flows']} |" for e in r["excluded"]), "",
        "## False alerts on the held-back site flows", "",
        "| model | alerted flows | per 10,000 flows |", "| --- | --- | --- |",
        f"| base | {alerts['base']:,} | {10_000 * alerts['base'] / held:.1f} |",
        f"| with this adapter | {alerts['adapted']:,} | {10_000 * alerts['adapted'] / held:.1f} |",
        "",
    ]
    return "\n".join(lines)
