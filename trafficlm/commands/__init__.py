"""One module per ``trafficlm`` sub-command."""
