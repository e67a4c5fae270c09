"""Triage's bounds, importable without numpy, polars or torch: ``--help`` shows them."""

# alerted flows one triage run keeps for its sessions (~0.5 KB each); a flood beyond it is
# still reported, its sessions counting the flows kept, and what was dropped is counted
MAX_KEPT_FLOWS = 1_000_000
