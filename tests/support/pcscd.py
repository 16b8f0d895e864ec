"""The test process's one private pcscd (``shared()``), on ``hardware.pcscd.PrivatePcscd``.

The daemon and its reader entries are product code (``hardware.pcscd``, which ``sscard pcscd`` also runs);
this module keeps one daemon per test process and re-exports the helpers the suites use.

The libpcsclite client reads ``PCSCLITE_CSOCK_NAME`` once per process, so a process should talk to
one private pcscd: use ``shared()`` and ``ensure(entries)``, which restarts it with the union of
entries when a suite needs more readers.
"""
from __future__ import annotations

import atexit
import os

from hardware.pcscd import (
    CCID_TWIN_DRIVER as CCID_TWIN_DRIVER,
    PCSCD as PCSCD,
    VPCD_DRIVER as VPCD_DRIVER,
    VPCD_SLOTS as VPCD_SLOTS,
    PrivatePcscd as PrivatePcscd,
    free_port_block as free_port_block,
    listening_ports as listening_ports,
    missing_requirements as missing_requirements,
    reader_entry as reader_entry,
    slot_names as slot_names,
    vpcd_entry as vpcd_entry,
    vpcd_ports as vpcd_ports,
)

DEBUG_ENV = "SSCARD_PCSCD_DEBUG"

_shared: PrivatePcscd | None = None


def shared() -> PrivatePcscd:
    """The process's one private pcscd. Sets ``PCSCLITE_CSOCK_NAME`` in ``os.environ`` for in-process
    clients (pyscard) the first time; call it before anything in the process talks PC/SC."""
    global _shared
    if _shared is None:
        debug = bool(os.environ.get(DEBUG_ENV))  # pcscd -d -a, and the work directory is kept for reading
        _shared = PrivatePcscd(debug=debug)
        os.environ.update(_shared.env)
        atexit.register(_shared.stop if debug else _shared.cleanup)
    return _shared
