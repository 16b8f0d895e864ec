"""The private pcscd launcher lives in ``hardware.private_pcscd`` (benchmarks use it too); tests import it here."""
from hardware.private_pcscd import (  # noqa: F401
    CCID_TWIN_DRIVER, DEBUG_ENV, PCSCD, VPCD_DRIVER, VPCD_SLOTS, PrivatePcscd, free_port_block, listening_ports,
    missing_requirements, reader_entry, shared, slot_names, vpcd_entry, vpcd_ports,
)
