"""The live sensor: capture, flows, scoring, sessions and EVE alerts as a daemon."""
