"""The HSM variants of read-basic-info and PIN reload (docs/sources.md §5.4, docs/design.md §3 "Standard
interface, HSM mode"), one function per step.

Between steps the card stays powered and no other command reaches it, so the last GET CHALLENGE of a step
is still the card's challenge when the next step sends EXTERNAL AUTHENTICATE or the MAC'd PIN RELOAD.
The internal-authentication randoms are the terminal's (a counterfeit card cannot replay an answer); an
external-authentication process factor is the card's challenge, as the card requires.

* Read basic info: Step 1 reads the card identification code, runs INTERNAL AUTHENTICATE with the
  terminal's P ‖ D and keeps the answer, takes the card's challenge for the EA (gen3: EF06 needs key 0A)
  and outputs ``region|ATR hist|algId|cardID|IA factor|IA data|EA factor|EA data|terminal no|``. Step 2
  takes ``IA result ‖ IA data|EA cryptogram ‖ EA data|`` from the HSM as they come, compares the kept answer
  (-25 if they differ), sends ``00 82 00 0A 10 <EA cryptogram ‖ EA data>`` and outputs what iReadCardBas does.
* Reload PIN: Step 1 → ``algId|0090|EA factor|EA data|``; Step 2 (pKey = C ‖ D) sends ``00 82 00 06 10 …``,
  asks the new PIN, takes a challenge → ``algId|0173|challenge|84240001Lc|PIN|``; Step 3 sends the HSM's
  ``84 24 00 01`` command (whole APDU, or ciphertext ‖ MAC after our header).
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

from host import errors as E
from host.card import check
from host.standard.flows import basic_info_output, check_card_info, ef06_read_key, read_items
from host.standard.formats import CardInfo, join_fields, split_fields
from host.terminal import Terminal
from protocols import crypto
from protocols.atr import historical_bytes
from protocols.apdu import CommandAPDU
from protocols.keys import RELOAD_AUTH_ADDRESS, RELOAD_SM_ADDRESS
from protocols.profile import RecordFile


@dataclass
class Pending:
    """An HSM flow between steps: the open session and what the next step needs."""

    kind: str                      # "readbas" or "reload"
    term: Terminal
    stack: contextlib.ExitStack
    output: str = ""
    next_step: int = 2
    done: bool = False
    ia_answer: bytes = b""
    ia_data: bytes = b""
    ea_key: int | None = None
    header: bytes = b""
    extra: dict[str, str] = field(default_factory=dict)

    def close(self) -> None:
        with contextlib.suppress(E.SSCardError):
            self.stack.close()
        with contextlib.suppress(E.SSCardError):
            self.term.close()


def _open(kind: str, term: Terminal) -> Pending:
    stack = contextlib.ExitStack()
    stack.enter_context(term.session())
    return Pending(kind, term, stack)


def _hex_field(text: str, what: str, length: int) -> bytes:
    try:
        raw = bytes.fromhex(text.strip())
    except ValueError:
        raise E.IllegalInput(f"pKey: {what} is not hex") from None
    if len(raw) != length:
        raise E.IllegalInput(f"pKey: {what} must be {2 * length} hex digits, got {2 * len(raw)}")
    return raw


def _alg_field(term: Terminal) -> str:
    return f"{int(term.card.alg):02X}"


# --- read basic info ----------------------------------------------------------------------------------------
def read_bas_step1(term: Terminal) -> Pending:
    p = _open("readbas", term)
    try:
        card = term.card
        card.select_df("SSSE")
        ef05 = card.profile.ssse.ef("EF05")
        assert isinstance(ef05, RecordFile)
        item = ef05.item("card_id")
        card_id = item.decode_value(card.read_item_raw(ef05, item))
        terminal_no = term.psam.terminal_number() if term.psam is not None else ""
        ia_factor, ia_data = term.random(8), term.random(8)
        p.ia_answer = card.internal_authenticate(ia_factor + ia_data)
        p.ia_data = ia_data
        p.ea_key = ef06_read_key(card)
        ea_factor = ea_data = b""
        if p.ea_key is not None:
            ea_data = term.random(8)
            ea_factor = card.get_challenge(8)       # the last command before Step 2's EXTERNAL AUTHENTICATE
        p.output = join_fields([card_id[:6], historical_bytes(card.atr).hex().upper(), _alg_field(term), card_id,
                                ia_factor.hex().upper(), ia_data.hex().upper(), ea_factor.hex().upper(),
                                ea_data.hex().upper(), terminal_no])
        p.extra["terminal_no"] = terminal_no
    except BaseException:
        p.close()
        raise
    return p


def read_bas_step2(p: Pending, pkey: str, device_no: str) -> str:
    fields = split_fields(pkey)
    if not 1 <= len(fields) <= 2:
        raise E.IllegalInput("pKey must be 'IA result ‖ IA data|EA cryptogram ‖ EA data|'")
    ia = _hex_field(fields[0], "IA result ‖ IA data", 16)
    card = p.term.card
    if ia[8:] != p.ia_data or not crypto.equal(ia[:8], p.ia_answer):
        raise E.HsmMismatch("the card's internal authentication disagrees with the HSM (not genuine?)")
    if p.ea_key is not None:
        ea = _hex_field(fields[1] if len(fields) > 1 else "", "EA data", 16)
        card.external_authenticate(p.ea_key, ea[:8], ea[8:])
    v05 = read_items(card, "SSSEEF05")
    v06 = read_items(card, "SSSEEF06")
    p.done = True
    return basic_info_output(card, v05, v06, p.extra["terminal_no"], device_no)


# --- reload PIN ---------------------------------------------------------------------------------------------
def reload_step1(term: Terminal, info: CardInfo) -> Pending:
    p = _open("reload", term)
    try:
        card = term.card
        card.select_df("SSSE")
        check_card_info(card, info)
        p.ea_key = card.profile.pin_admin_key
        ea_data = term.random(8)
        ea_factor = card.get_challenge(8)
        p.output = join_fields([_alg_field(term), RELOAD_AUTH_ADDRESS, ea_factor.hex().upper(),
                                ea_data.hex().upper()])
    except BaseException:
        p.close()
        raise
    return p


def reload_step2(p: Pending, pkey: str, new_pin: Callable[[], str]) -> str:
    card = p.term.card
    if p.ea_key is not None:
        ea = _hex_field(pkey.rstrip("|"), "EA data", 16)
        card.external_authenticate(p.ea_key, ea[:8], ea[8:])
    pin = new_pin()
    body = len(crypto.pad80(b"\x00" + crypto.pin_to_bcd(pin), crypto.block_size(card.alg)))
    p.header = bytes((0x84, 0x24, 0x00, 0x01, body + 4))
    challenge = card.get_challenge(8)
    p.next_step = 3
    return join_fields([_alg_field(p.term), RELOAD_SM_ADDRESS, challenge.hex().upper(), p.header.hex().upper(), pin])


def reload_step3(p: Pending, pkey: str) -> str:
    text = pkey.strip().rstrip("|")
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise E.IllegalInput("pKey: the PIN RELOAD command is not hex") from None
    if raw[:5] != p.header:
        raw = p.header + raw
    if len(raw) != 5 + p.header[4]:
        raise E.IllegalInput(f"pKey: PIN RELOAD data must be {p.header[4]} bytes")
    check(p.term.card.engine.transmit(CommandAPDU.parse(raw)), auth=True)
    p.done = True
    return ""
