"""Live capture: AF_PACKET rings and kernel BPF filters."""
