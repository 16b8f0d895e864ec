"""The commands of the card and the PSAM: one table of INS, the CLAs each is valid with, and its name.

Bytes and meanings: docs/sources.md §3.1 (the card), docs/design.md §3 "PSAM"; the commands of the card's other
applications (``firmware_sim.apps``) are in the card's table too: docs/design.md §3.1. The emulated card
(``firmware_sim.card_os``) and PSAM (``firmware_sim.psam``) dispatch on this table and refuse a CLA it does not
list for them (6E00) or an INS it does not know (6D00); traces (``host.trace``) name commands from it. The host's
card and PSAM clients write the bytes they send as production traces show them (``00 B2 01 05``, ``BF DE``);
``tests/unit/test_commands.py`` checks that everything they send is in this table.

CLA: 00 ISO, 80 proprietary, BF the PSAM vendor's; 84 and 04 carry a MAC (secure messaging, docs/design.md §3).
A command valid with both 00 and 04 is shown as "… (MAC)" when sent with 04.
"""
from __future__ import annotations

from dataclasses import dataclass

SECURED_CLA = 0x04      # the MAC'd form of an ISO (CLA 00) command


@dataclass(frozen=True)
class Command:
    name: str                  # as traces show it
    ins: int
    clas: tuple[int, ...]      # the CLAs the device takes it with

    def name_for(self, cla: int) -> str:
        """The command's name as sent with ``cla``: its CLA 04 form is "… (MAC)"."""
        return f"{self.name} (MAC)" if cla == SECURED_CLA else self.name


# --- the card (docs/sources.md §3.1) ----------------------------------------------------------------------------
SELECT = Command("SELECT", 0xA4, (0x00,))
READ_RECORD = Command("READ RECORD", 0xB2, (0x00,))
READ_BINARY = Command("READ BINARY", 0xB0, (0x00,))
GET_CHALLENGE = Command("GET CHALLENGE", 0x84, (0x00,))
GET_RESPONSE = Command("GET RESPONSE", 0xC0, (0x00,))
INTERNAL_AUTHENTICATE = Command("INTERNAL AUTHENTICATE", 0x88, (0x00,))
EXTERNAL_AUTHENTICATE = Command("EXTERNAL AUTHENTICATE", 0x82, (0x00,))
VERIFY = Command("VERIFY", 0x20, (0x00,))
CHANGE_PIN = Command("CHANGE PIN", 0x5E, (0x80,))
PIN_UNBLOCK_RELOAD = Command("PIN UNBLOCK/RELOAD", 0x24, (0x84,))      # P2 00 UNBLOCK, 01 RELOAD
APPLICATION_BLOCK = Command("APPLICATION BLOCK", 0x1E, (0x84,))
APPLICATION_UNBLOCK = Command("APPLICATION UNBLOCK", 0x18, (0x84,))
CARD_BLOCK = Command("CARD BLOCK", 0x16, (0x84,))
UPDATE_RECORD = Command("UPDATE RECORD", 0xDC, (0x00, SECURED_CLA))
UPDATE_BINARY = Command("UPDATE BINARY", 0xD6, (0x00, SECURED_CLA))
APPEND_RECORD = Command("APPEND RECORD", 0xE2, (0x00, SECURED_CLA))

# --- the medical purse of DF04 (JR/T 0025.2 e-purse; protocols.purse) -------------------------------------------
GET_BALANCE = Command("GET BALANCE", 0x5C, (0x80,))
INITIALIZE_FOR_PURCHASE = Command("INITIALIZE FOR PURCHASE", 0x50, (0x80,))
DEBIT_FOR_PURCHASE = Command("DEBIT FOR PURCHASE", 0x54, (0x80,))

# --- the card's other applications (firmware_sim.apps): answered only while that application is selected -------
GET_PROCESSING_OPTIONS = Command("GET PROCESSING OPTIONS", 0xA8, (0x80,))   # EMV Book 3 §6.5.8 (bank application)
# The PKI application (docs/sources.md §7, docs/design.md §3.4): the vendor commands production code sends, and
# ISO/IEC 7816-8's PERFORM SECURITY OPERATION for the signature.
PIN_DIGEST = Command("PIN DIGEST (SM3)", 0xC4, (0x80,))                  # 80 C4 01 03 Lc C1 L PIN
GENERATE_KEY_PAIR = Command("GENERATE SM2 KEY PAIR", 0x40, (0x80,))      # 80 40 00 00 08 C0 02 … C2 02 …
EXPORT_PUBLIC_KEY = Command("EXPORT PUBLIC KEY", 0xC9, (0x80,))          # 80 C9 82 00 / 80 C9 82 80
PERFORM_SECURITY_OPERATION = Command("PERFORM SECURITY OPERATION", 0x2A, (0x00,))   # 00 2A 9E 9A: sign

# --- the PSAM (docs/design.md §3 "PSAM") ------------------------------------------------------------------------
PSAM_INIT = Command("PSAM INIT (DIVERSIFY)", 0x1A, (0x80,))
PSAM_INIT_VENDOR = Command("PSAM INIT (DIVERSIFY)", 0xDE, (0xBF,))   # the vendor form of 80 1A, same meaning
PSAM_COMPUTE = Command("PSAM COMPUTE", 0xFA, (0x80,))               # P1 00 encipher, 05 MAC
INIT_SAM_FOR_PURCHASE = Command("INIT SAM FOR PURCHASE", 0x70, (0x80,))     # MAC1 and the terminal txn number
CREDIT_SAM_FOR_PURCHASE = Command("CREDIT SAM FOR PURCHASE", 0x72, (0x80,))  # checks MAC2

CARD_COMMANDS: tuple[Command, ...] = (
    SELECT, READ_RECORD, READ_BINARY, GET_CHALLENGE, GET_RESPONSE, INTERNAL_AUTHENTICATE, EXTERNAL_AUTHENTICATE,
    VERIFY, CHANGE_PIN, PIN_UNBLOCK_RELOAD, APPLICATION_BLOCK, APPLICATION_UNBLOCK, CARD_BLOCK,
    UPDATE_RECORD, UPDATE_BINARY, APPEND_RECORD, GET_BALANCE, INITIALIZE_FOR_PURCHASE, DEBIT_FOR_PURCHASE,
    GET_PROCESSING_OPTIONS, PIN_DIGEST, GENERATE_KEY_PAIR, EXPORT_PUBLIC_KEY, PERFORM_SECURITY_OPERATION,
)
PSAM_COMMANDS: tuple[Command, ...] = (SELECT, READ_BINARY, PSAM_INIT, PSAM_INIT_VENDOR, PSAM_COMPUTE, GET_RESPONSE,
                                      INIT_SAM_FOR_PURCHASE, CREDIT_SAM_FOR_PURCHASE)


def _by_ins(commands: tuple[Command, ...]) -> dict[int, Command]:
    table = {c.ins: c for c in commands}
    if len(table) != len(commands):
        raise ValueError("a device has one command per INS")
    return table


#: Each device's commands by INS, and every CLA it takes (any other CLA is refused before the INS is looked at).
CARD_BY_INS = _by_ins(CARD_COMMANDS)
PSAM_BY_INS = _by_ins(PSAM_COMMANDS)
CARD_CLAS = frozenset(cla for c in CARD_COMMANDS for cla in c.clas)
PSAM_CLAS = frozenset(cla for c in PSAM_COMMANDS for cla in c.clas)

#: (CLA, INS) → name, for traces: every command of either device with every CLA it is valid with.
NAMES: dict[tuple[int, int], str] = {
    (cla, c.ins): c.name_for(cla) for c in CARD_COMMANDS + PSAM_COMMANDS for cla in c.clas}
