"""Exit codes of the ``sscard`` command line (the table that maps errors to them is in ``host.cli``).

A module of its own so that every command module can return them without importing the package that
imports the command modules.
"""
from __future__ import annotations

EXIT_OK = 0          # success
EXIT_CARD = 1        # the card refused a command
EXIT_USAGE = 2       # bad arguments or input
EXIT_READER = 3      # no card, or the reader failed
EXIT_IMAGE = 4       # bad card or PSAM image
EXIT_AUTH = 5        # wrong PIN, blocked PIN or failed authentication
EXIT_NO_PSAM = 6     # the reader has no PSAM, or the PSAM lacks an application or key
EXIT_INTERRUPTED = 130  # Ctrl-C
EXIT_PIPE = 141      # the output's reader went away (a closed pipe): 128 + SIGPIPE, as a shell reports it
