"""Test infrastructure shared by several suites (private pcscd, small test devices)."""
