"""Serial-reader tests: host driver, simulated firmware on a pty, libccid as a peer."""
