"""The HSM variants of the standard interface (docs/sources.md §5.4, §6.4, docs/design.md §3 "Standard interface,
HSM mode"), one function per step: read basic information, read and write files, reload and unblock the PIN.

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
* Unblock PIN: the same with no PIN: Step 2 → ``algId|0173|challenge|8424000004|``; Step 3 sends the HSM's
  ``84 24 00 00 04 MAC`` (whole APDU, or the MAC alone).
* Read card: Step 1 checks pCardInfo and pFileAddr, runs INTERNAL AUTHENTICATE as for the basic information and,
  when a file needs external authentication, enters that file's DF and takes the card's challenge:
  ``region|ATR hist|algId|cardID|IA factor|IA data|key address|EA factor|EA data|`` (the last three empty when
  no file needs a key). Step 2 takes ``IA result ‖ IA data|EA cryptogram ‖ EA data|`` as for the basic
  information, authenticates and reads; the output is iReadCard's.
* Write card: Step 1 checks pCardInfo and pFileAddr, enters the DF of the files and takes the card's challenge:
  ``region|ATR hist|algId|cardID|key address|EA factor|EA data|``. Step 2 takes pKey = ``EA cryptogram ‖ EA
  data`` and pWriteData, checks every value, authenticates and writes.
* Purse debit: Step 1 checks pCardInfo and pPayInfo, verifies the holder's PIN and sends INITIALIZE FOR
  PURCHASE: ``algId|key address|card random|offline counter|amount|type|terminal number|YYYYMMDDhhmmss|key
  version|purse algId|region|ATR hist|cardID|`` (the first eight in the order one public front end reads them).
  Step 2 takes ``terminal transaction number|YYYYMMDDhhmmss|MAC1|`` from the HSM, sends DEBIT FOR PURCHASE and
  outputs iDoDebit's fields followed by MAC2, which the HSM checks.

* Write basic data (S7's two steps, docs/sources.md §6.1 iWriteCardBas): iWriteCardBas reads the card
  identification code, takes a terminal random D and the card's challenge R in SSSE and outputs
  ``algId|R|D|0094|`` (S7's kiosk takes fields 1 and 2, "the two randoms", and asks its HSM for the external
  authentication with key address 0094). iWriteCardBas_HSM_Step1 takes pKey = the HSM's cryptogram C (16 hex,
  with the D it was given) or C ‖ D (32 hex) and pWriteInfo (iWriteCardBas's 11 fields), checks every value,
  sends ``00 82 00 04 10 C ‖ D`` and writes EF05/EF06.

A read or write needs at most one external-authentication key (one DF, one key ID): the card's challenge serves
one command, so one HSM answer opens one key. pFileAddr naming files of two keys is -23 (one call per key).
"""
from __future__ import annotations

import contextlib
import datetime as _dt
from collections.abc import Callable
from dataclasses import dataclass, field

from host import errors as E
from host.card import check
from host.standard.flows import (
    Access, basic_info_output, basic_write_plan, check_card_info, check_read_ref, check_value, check_write_refs,
    ef06_read_key, read_card_id, read_items, read_ref, resolve,
)
from host.standard.formats import (
    CardInfo, FileRef, PayInfo, format_file_values, join_fields, parse_write_data, split_fields,
)
from host.standard.pinpad import HolderPin
from host.terminal import Terminal
from protocols import crypto
from protocols import purse as P
from protocols.atr import historical_bytes
from protocols.apdu import CommandAPDU
from protocols.keys import RELOAD_AUTH_ADDRESS, RELOAD_SM_ADDRESS, WRITE_BAS_ADDRESS, hsm_address
from protocols.profile import Cond, DFSpec, KeyUse, RecordFile


@dataclass
class Pending:
    """An HSM flow between steps: the open session and what the next step needs."""

    kind: str                      # "readbas", "readcard", "writecard", "writebas", "reload", "unblock", "debit"
    term: Terminal
    stack: contextlib.ExitStack
    output: str = ""
    next_step: int = 2
    done: bool = False
    ia_answer: bytes = b""
    ia_data: bytes = b""
    ea_key: int | None = None
    ea_df: str = "SSSE"            # the DF whose key ``ea_key`` is (current since Step 1's GET CHALLENGE)
    header: bytes = b""
    refs: list[FileRef] = field(default_factory=list)
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


def _open_checked(kind: str, term: Terminal, info: CardInfo) -> tuple[Pending, str]:
    """Open the step's session, SELECT SSSE, check pCardInfo and read the card identification code: the pending
    step and the card ID. The session is closed when any of these fails."""
    p = _open(kind, term)
    try:
        card = term.card
        card.select_df("SSSE")
        check_card_info(card, info)
        return p, read_card_id(card)
    except BaseException:
        p.close()
        raise


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


def _card_fields(term: Terminal, card_id: str) -> list[str]:
    """``region|ATR hist|algId|cardID``: what the HSM derives the card's keys from."""
    return [card_id[:6], historical_bytes(term.card.atr).hex().upper(), _alg_field(term), card_id]


def _internal_auth(p: Pending) -> list[str]:
    """INTERNAL AUTHENTICATE with the terminal's P ‖ D, the answer kept for Step 2: ``IA factor|IA data``."""
    ia_factor, p.ia_data = p.term.random(8), p.term.random(8)
    p.ia_answer = p.term.card.internal_authenticate(ia_factor + p.ia_data)
    return [ia_factor.hex().upper(), p.ia_data.hex().upper()]


def _check_ia(p: Pending, text: str) -> None:
    """The HSM's ``IA result ‖ IA data`` against the card's answer kept at Step 1 (-25 if they differ)."""
    ia = _hex_field(text, "IA result ‖ IA data", 16)
    if ia[8:] != p.ia_data or not crypto.equal(ia[:8], p.ia_answer):
        raise E.HsmMismatch("the card's internal authentication disagrees with the HSM (not genuine?)")


def _one_key(keys: list[tuple[DFSpec, int | None]], what: str) -> tuple[DFSpec, int] | None:
    """The one (DF, key ID) the files need for ``what``, None for none; -23 for more than one."""
    needed = {(df.name, key_id): df for df, key_id in keys if key_id is not None}
    if len(needed) > 1:
        names = ", ".join(f"{df} key {key_id:02X}" for df, key_id in needed)
        raise E.IllegalInput(f"pFileAddr: the files need external authentication with more than one key ({names}); "
                             f"{what} them with one HSM flow per key")
    if not needed:
        return None
    (_, key_id), df = next(iter(needed.items()))
    return df, key_id


def _ea_request(p: Pending, key: tuple[DFSpec, int] | None) -> list[str]:
    """Enter the key's DF and take the card's challenge (the last command before Step 2):
    ``key address|EA factor|EA data``, all empty when no key is needed."""
    if key is None:
        return ["", "", ""]
    df, key_id = key
    spec = df.key_by_id(key_id, KeyUse.EXTERNAL)
    if spec is None:
        raise E.CardError(0x6A88, f"{df.name} has no external-authentication key {key_id:02X}")
    p.ea_key, p.ea_df = key_id, df.name
    card = p.term.card
    card.enter(df.name)
    ea_data = p.term.random(8)
    ea_factor = card.get_challenge(8)
    return [hsm_address(spec.name), ea_factor.hex().upper(), ea_data.hex().upper()]


def _ia_ea_fields(p: Pending, pkey: str) -> tuple[str, bytes]:
    """``IA result ‖ IA data|EA cryptogram ‖ EA data|``: the IA text and the EA bytes (b"" when no key is
    needed), every field's form checked (-23) before anything is compared or sent."""
    fields = split_fields(pkey)
    if not 1 <= len(fields) <= 2:
        raise E.IllegalInput("pKey must be 'IA result ‖ IA data|EA cryptogram ‖ EA data|'")
    _hex_field(fields[0], "IA result ‖ IA data", 16)
    if p.ea_key is None:
        return fields[0], b""
    return fields[0], _hex_field(fields[1] if len(fields) > 1 else "", "EA cryptogram ‖ EA data", 16)


def _external_auth(p: Pending, ea: bytes | str, access: Access | None = None) -> None:
    """EXTERNAL AUTHENTICATE with the HSM's ``EA cryptogram ‖ EA data`` (16 bytes, or 32 hex), first command of
    the step."""
    assert p.ea_key is not None
    if isinstance(ea, str):
        ea = _hex_field(ea, "EA cryptogram ‖ EA data", 16)
    p.term.card.external_authenticate(p.ea_key, ea[:8], ea[8:])
    if access is not None:
        access.done.add((p.ea_df, p.ea_key))


# --- read basic info ----------------------------------------------------------------------------------------
def read_bas_step1(term: Terminal) -> Pending:
    p = _open("readbas", term)
    try:
        card = term.card
        card.select_df("SSSE")
        card_id = read_card_id(card)
        terminal_no = term.psam.terminal_number() if term.psam is not None else ""
        ia = _internal_auth(p)
        p.ea_key = ef06_read_key(card)
        ea_factor = ea_data = b""
        if p.ea_key is not None:
            ea_data = term.random(8)
            ea_factor = card.get_challenge(8)       # the last command before Step 2's EXTERNAL AUTHENTICATE
        p.output = join_fields([*_card_fields(term, card_id), *ia, ea_factor.hex().upper(), ea_data.hex().upper(),
                                terminal_no])
        p.extra["terminal_no"] = terminal_no
    except BaseException:
        p.close()
        raise
    return p


def read_bas_step2(p: Pending, pkey: str, device_no: str) -> str:
    ia, ea = _ia_ea_fields(p, pkey)
    _check_ia(p, ia)
    card = p.term.card
    if p.ea_key is not None:
        _external_auth(p, ea)
    v05 = read_items(card, "SSSEEF05")
    v06 = read_items(card, "SSSEEF06")
    p.done = True
    return basic_info_output(card, v05, v06, p.extra["terminal_no"], device_no)


# --- read card ----------------------------------------------------------------------------------------------
def read_card_step1(term: Terminal, info: CardInfo, refs: list[FileRef]) -> Pending:
    """Check the card and the files, authenticate the card, ask for the one key the files need."""
    p, card_id = _open_checked("readcard", term, info)
    try:
        card = term.card
        keys: list[tuple[DFSpec, int | None]] = []
        for ref in refs:
            df, ef = resolve(card, ref)
            check_read_ref(ref, ef)
            keys.append((df, ef.read.key_needed))
        key = _one_key(keys, "read")
        p.refs = refs
        ia = _internal_auth(p)
        p.output = join_fields([*_card_fields(term, card_id), *ia, *_ea_request(p, key)])
    except BaseException:
        p.close()
        raise
    return p


def read_card_step2(p: Pending, pkey: str, holder: HolderPin) -> str:
    """Check the HSM's IA result (-25), authenticate with its EA data, read; iReadCard's output. The files of the
    authenticated DF are read first (leaving it would end the authentication), the output keeps pFileAddr's order."""
    ia, ea = _ia_ea_fields(p, pkey)
    _check_ia(p, ia)
    card = p.term.card
    access = Access(p.term, holder)
    if p.ea_key is not None:
        _external_auth(p, ea, access)
    order = sorted(range(len(p.refs)), key=lambda n: resolve(card, p.refs[n])[0].name != p.ea_df)
    values: dict[int, list[str]] = {}
    for n in order:
        values[n] = read_ref(p.term, access, p.refs[n])
    p.done = True
    return format_file_values(p.refs, [values[n] for n in range(len(p.refs))])


# --- write card ---------------------------------------------------------------------------------------------
def write_card_step1(term: Terminal, info: CardInfo, refs: list[FileRef]) -> Pending:
    """Check the card and the files, ask for the one key their update needs. Files written with secure messaging
    (a MAC per command, each under its own challenge) cannot be written in two steps: -13."""
    p, card_id = _open_checked("writecard", term, info)
    try:
        card = term.card
        keys: list[tuple[DFSpec, int | None]] = []
        for ref, (df, ef, _) in zip(refs, check_write_refs(card, refs)):
            if ef.update.cond is Cond.MAC:
                raise E.NotSupported(f"{ref.name} is written with secure messaging, a challenge and MAC per "
                                     "record: use iWriteCard with a PSAM")
            if ef.update.cond is Cond.NEVER:
                raise E.CardError(0x6982, f"{ref.name} cannot be written")
            keys.append((df, ef.update.key_needed))
        key = _one_key(keys, "write")
        p.refs = refs
        p.output = join_fields([*_card_fields(term, card_id), *_ea_request(p, key)])
    except BaseException:
        p.close()
        raise
    return p


def write_card_step2(p: Pending, pkey: str, write_data: str, holder: HolderPin) -> str:
    """Check every value of pWriteData (-23/-41/-42: nothing is sent), authenticate with the HSM's EA data, write
    (the authenticated DF's files first)."""
    values = parse_write_data(write_data, p.refs)
    card = p.term.card
    plan = []
    for (df, ef, items), vals in zip(check_write_refs(card, p.refs), values):
        for item, value in zip(items, vals):
            check_value(item, value)
            plan.append((df, ef, item, value))
    access = Access(p.term, holder)
    text = pkey.strip().rstrip("|")
    if p.ea_key is not None:
        _external_auth(p, text, access)
    elif text:
        raise E.IllegalInput("pKey: these files need no external authentication; pKey must be empty")
    for df, ef, item, value in sorted(plan, key=lambda step: step[0].name != p.ea_df):
        card.enter(df.name)
        access.satisfy(df, ef.update.cond, ef.update.key_id)
        card.update_item(ef, item, value)
    p.done = True
    return ""


# --- write basic data (S7: iWriteCardBas, then iWriteCardBas_HSM_Step1) ------------------------------------
def write_bas_step1(term: Terminal) -> Pending:
    """iWriteCardBas: the card identification code kept, the terminal's D and the card's challenge R in SSSE
    (the last command before the next step): ``algId|R|D|0094|``."""
    p = _open("writebas", term)
    try:
        card = term.card
        card.select_df("SSSE")
        p.extra["card_id"] = read_card_id(card)
        p.ea_key, p.ea_df = card.profile.ssse.ef("EF05").update.key_needed, "SSSE"
        if p.ea_key is None:
            raise E.NotSupported("this card profile's EF05 is not opened by external authentication")
        ea_data = term.random(8)
        ea_factor = card.get_challenge(8)
        p.extra["ea_data"] = ea_data.hex().upper()
        p.output = join_fields([_alg_field(term), ea_factor.hex().upper(), p.extra["ea_data"], WRITE_BAS_ADDRESS])
    except BaseException:
        p.close()
        raise
    return p


def write_bas_step2(p: Pending, pkey: str, write_info: str) -> str:
    """iWriteCardBas_HSM_Step1: every value of pWriteInfo checked (nothing reaches the card before), EXTERNAL
    AUTHENTICATE with the HSM's answer (a wrong one is the card's 63Cx, counted, and nothing is written), the
    writes. pKey: C (16 hex; D is the one iWriteCardBas gave) or C ‖ D (32 hex)."""
    card = p.term.card
    plan = basic_write_plan(card, write_info, p.extra["card_id"])
    text = pkey.strip().rstrip("|")
    if len(text) == 16:
        text += p.extra["ea_data"]
    elif len(text) != 32:
        raise E.IllegalInput(f"pKey must be the HSM's cryptogram (16 hex digits) or cryptogram ‖ data (32), "
                             f"got {len(text)} characters")
    _external_auth(p, text)
    for path, item, value in plan:
        df, ef = card.profile.find_file(path)
        card.enter(df.name)
        assert isinstance(ef, RecordFile)
        card.update_item(ef, item, value)
    p.done = True
    return ""


# --- reload and unblock PIN ---------------------------------------------------------------------------------
def pin_admin_step1(kind: str, term: Terminal, info: CardInfo) -> Pending:
    """Step 1 of PIN reload and unblock: ``algId|0090|EA factor|EA data|`` for the PIN-management key (06)."""
    p = _open(kind, term)
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


def reload_step1(term: Terminal, info: CardInfo) -> Pending:
    return pin_admin_step1("reload", term, info)


def reload_step2(p: Pending, pkey: str, new_pin: Callable[[], str]) -> str:
    card = p.term.card
    _external_auth(p, pkey.rstrip("|"))
    pin = new_pin()
    body = len(crypto.pad80(b"\x00" + crypto.pin_to_bcd(pin), crypto.block_size(card.alg)))
    p.header = bytes((0x84, 0x24, 0x00, 0x01, body + 4))
    challenge = card.get_challenge(8)
    p.next_step = 3
    return join_fields([_alg_field(p.term), RELOAD_SM_ADDRESS, challenge.hex().upper(), p.header.hex().upper(), pin])


def reload_step3(p: Pending, pkey: str) -> str:
    return _send_secured(p, pkey, "PIN RELOAD")


def unblock_step1(term: Terminal, info: CardInfo) -> Pending:
    return pin_admin_step1("unblock", term, info)


def unblock_step2(p: Pending, pkey: str) -> str:
    """EXTERNAL AUTHENTICATE with the HSM's C ‖ D, then a challenge for the MAC: ``algId|0173|challenge|8424000004|``."""
    _external_auth(p, pkey.rstrip("|"))
    p.header = bytes((0x84, 0x24, 0x00, 0x00, 0x04))
    challenge = p.term.card.get_challenge(8)
    p.next_step = 3
    return join_fields([_alg_field(p.term), RELOAD_SM_ADDRESS, challenge.hex().upper(), p.header.hex().upper()])


def unblock_step3(p: Pending, pkey: str) -> str:
    return _send_secured(p, pkey, "PIN UNBLOCK")


def _send_secured(p: Pending, pkey: str, what: str) -> str:
    """Send the HSM's MAC'd command: the whole APDU, or its data after the header Step 2 gave."""
    text = pkey.strip().rstrip("|")
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise E.IllegalInput(f"pKey: the {what} command is not hex") from None
    if raw[:5] != p.header:
        raw = p.header + raw
    if len(raw) != 5 + p.header[4]:
        raise E.IllegalInput(f"pKey: {what} data must be {p.header[4]} bytes")
    check(p.term.card.engine.transmit(CommandAPDU.parse(raw)), auth=True)
    p.done = True
    return ""


# --- purse debit (docs/design.md §3.3) -------------------------------------------------------------------------
def debit_step1(term: Terminal, info: CardInfo, pay: PayInfo, terminal_no: str,
                pin: Callable[[Terminal], str | None], timeout: int) -> Pending:
    """Check the card, VERIFY the holder's PIN and INITIALIZE FOR PURCHASE (the last command before Step 2's DEBIT):
    ``algId|key address|card random|offline counter|amount|type|terminal number|YYYYMMDDhhmmss|key version|
    purse algId|region|ATR hist|cardID|``, every number in hex as the card and MAC1 carry it. The terminal number
    is ``terminal_no``, else the PSAM's; -23 when the terminal has neither."""
    p, card_id = _open_checked("debit", term, info)
    try:
        terminal = terminal_no or (term.psam.terminal_number() if term.psam is not None else "")
        if not terminal:
            raise E.IllegalInput("pPayInfo: a terminal without a PSAM names its terminal number (12 digits) "
                                 "in field 4")
        stamp = P.datetime_bytes((pay.when or _dt.datetime.now()).replace(microsecond=0))
        dpk, init = term.initialize_purchase(pay.amount, bytes.fromhex(terminal), pin(term), timeout=timeout)
        region, atr_hist, alg, _ = _card_fields(term, card_id)
        p.output = join_fields([
            alg, hsm_address(dpk.name), init.random.hex().upper(), f"{init.offline_counter:04X}",
            f"{pay.amount:08X}", f"{P.PURCHASE_TYPE:02X}", terminal, stamp.hex(), f"{init.key_version:02X}",
            f"{init.alg_id:02X}", region, atr_hist, card_id])
        p.extra.update(init=init.encode().hex(), amount=str(pay.amount), terminal=terminal, when=stamp.hex())
    except BaseException:
        p.close()
        raise
    return p


def _debit_key(p: Pending, pkey: str) -> tuple[int, bytes]:
    """The HSM's answer: ``terminal transaction number|YYYYMMDDhhmmss|MAC1|`` (8, 14 and 8 characters), or
    ``terminal transaction number ‖ MAC1`` (16 hex); the time, when given, must be Step 1's (MAC1 covers it)."""
    fields = split_fields(pkey.strip())
    if len(fields) == 1:
        raw = _hex_field(fields[0], "terminal transaction number ‖ MAC1", 8)
        return int.from_bytes(raw[:4], "big"), raw[4:]
    if len(fields) != 3:
        raise E.IllegalInput("pKey must be 'terminal transaction number|YYYYMMDDhhmmss|MAC1|' or "
                             "'terminal transaction number ‖ MAC1'")
    txn = _hex_field(fields[0], "terminal transaction number", 4)
    if fields[1].strip() != p.extra["when"]:
        raise E.IllegalInput("pKey: the date and time are not Step 1's (MAC1 covers Step 1's)")
    return int.from_bytes(txn, "big"), _hex_field(fields[2], "MAC1", 4)


def debit_step2(p: Pending, pkey: str) -> str:
    """DEBIT FOR PURCHASE with the HSM's terminal transaction number and MAC1 (a wrong MAC1: the card's 9302,
    counted by the card, nothing debited): iDoDebit's output followed by MAC2, which the HSM checks,
    ``balance before|amount|balance after|card transaction number|terminal number|terminal transaction number|
    YYYYMMDDhhmmss|TAC|MAC2|``."""
    txn, mac1 = _debit_key(p, pkey)
    init = P.InitResponse.parse(bytes.fromhex(p.extra["init"]))
    amount = int(p.extra["amount"])
    tac, mac2 = p.term.debit_purchase(txn, bytes.fromhex(p.extra["when"]), mac1)
    p.done = True
    return join_fields([P.format_yuan(init.balance), P.format_yuan(amount), P.format_yuan(init.balance - amount),
                        f"{init.offline_counter:04X}", p.extra["terminal"], f"{txn:08X}", p.extra["when"],
                        tac.hex().upper(), mac2.hex().upper()])
