"""The provincial HSM (加密机) of the HSM flows, emulated: a local software key service standing in for the
device (docs/sources.md §5.4), for tests, benches and demos. The terminal library never calls it: as with a
real HSM, the caller carries the strings between the interface's HSM steps and the HSM.

It holds issuer root keys (by default the published TEST ONLY sets of ``protocols.keys``), derives the card
keys root → province → city → card and computes what a PSAM would: internal-authentication results,
external-authentication cryptograms, the enciphered, MAC'd PIN RELOAD command, and a purse debit's MAC1 (with
its own terminal transaction number) and the check of the card's MAC2. Its inputs are the
``…_HSM_Step`` outputs of ``host.standard``; its answers are the ``pKey`` of the next step.

Key addresses in those outputs are opaque strings (``protocols.keys.HSM_KEY_ADDRESSES``); this service knows
every one the terminal names: ``0090`` (key 06, the PIN management external-authentication key, RLK), ``0173``
(the secure-messaging key STK of PIN reload and unblock), ``0094`` (the update key 04 of iWriteCardBas), the
read and update keys of each DF, and ``004201`` (DF04's purchase key DPK).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from protocols import crypto
from protocols import purse as P
from protocols.crypto import Alg
from protocols.keys import HSM_KEY_ADDRESSES, IssuerKeys, test_issuer_keys
from protocols.profile import KeyUse, key_spec


class HsmError(ValueError):
    """The HSM refuses a request (malformed fields, unknown algorithm or key address)."""


def _fields(text: str, n: int, what: str) -> list[str]:
    parts = text.split("|")
    if parts and parts[-1] == "":
        parts = parts[:-1]
    if len(parts) != n:
        raise HsmError(f"{what}: expected {n} '|'-terminated fields, got {len(parts)}")
    return [p.strip() for p in parts]


def _hex(text: str, what: str, lengths: tuple[int, ...] = ()) -> bytes:
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise HsmError(f"{what} is not hex ({len(text)} characters; the value is not shown)") from None
    if lengths and len(raw) not in lengths:
        raise HsmError(f"{what} must be {' or '.join(map(str, lengths))} bytes, got {len(raw)}")
    return raw


@dataclass(frozen=True)
class _Purchase:
    """The trade an ``iDoDebit_HSM_Step1`` output describes."""

    random: bytes
    offline_counter: int
    amount: int
    txn_type: int
    terminal: bytes
    when: bytes


class SoftwareHsm:
    """Issuer root keys by algorithm; answers the HSM requests of the standard interface. ``transaction_number``
    is the next terminal transaction number it gives a purse debit."""

    def __init__(self, issuers: Iterable[IssuerKeys] | None = None, transaction_number: int = 0) -> None:
        sets = list(issuers) if issuers is not None else [test_issuer_keys(Alg.DES3), test_issuer_keys(Alg.SM4)]
        self._issuers: dict[Alg, IssuerKeys] = {Alg(i.alg): i for i in sets}
        self.transaction_number = transaction_number

    def _card_key(self, alg_field: str, name: str, region: str, atr_hex: str) -> tuple[Alg, bytes]:
        """The card key ``name``; ``atr_hex`` is the ATR or its historical bytes (the last 8 bytes count)."""
        try:
            alg = Alg(int(alg_field, 16))
        except ValueError:
            raise HsmError(f"unknown algorithm identifier {alg_field!r} (01 3DES, 03 SM4)") from None
        issuer = self._issuers.get(alg)
        if issuer is None:
            raise HsmError(f"this HSM holds no {alg.name} keys")
        tail = _hex(atr_hex, "ATR")[-8:]
        if len(tail) != 8:
            raise HsmError("ATR: fewer than 8 bytes")
        try:
            return alg, crypto.diversify(alg, issuer.city_keys(region)[name], tail)
        except ValueError as exc:
            raise HsmError(str(exc)) from None

    def _internal_auth(self, alg_field: str, region: str, atr: str, factor: str, data: str) -> bytes:
        """``IA result ‖ IA data``: the answer a genuine card gives to INTERNAL AUTHENTICATE with P ‖ D."""
        alg, irk = self._card_key(alg_field, "IRK", region, atr)
        d = _hex(data, "IA data", (8,))
        return crypto.internal_auth_answer(alg, irk, _hex(factor, "IA factor", (8,)) + d) + d

    def _external_auth(self, alg_field: str, name: str, region: str, atr: str, factor: str, data: str) -> bytes:
        """``C ‖ D`` for EXTERNAL AUTHENTICATE with the card key ``name``, the card's challenge ``factor``."""
        alg, key = self._card_key(alg_field, name, region, atr)
        d = _hex(data, "EA data", (8,))
        return crypto.external_auth_cryptogram(alg, key, _hex(factor, "EA factor", (8,)), d) + d

    # --- iReadCardBas_HSM ---------------------------------------------------------------------------------
    def read_basic_info(self, step1_output: str) -> str:
        """pKey for ``iReadCardBas_HSM_Step2``: ``IA result ‖ IA data|EA cryptogram ‖ EA data|`` (32 hex each;
        the EA field is empty when the card needs no external authentication).

        ``step1_output`` = ``region|ATR hist|algId|cardID|IA factor|IA data|EA factor|EA data|terminal no|``:
        the IA factor and data and the EA data are the terminal's randoms, the EA factor the card's challenge.
        """
        region, atr, alg_field, _card_id, ia_factor, ia_data, ea_factor, ea_data, _term = _fields(
            step1_output, 9, "iReadCardBas_HSM_Step1 output")
        ia = self._internal_auth(alg_field, region, atr, ia_factor, ia_data)
        ea = self._external_auth(alg_field, "RK", region, atr, ea_factor, ea_data) if ea_factor else b""
        return f"{ia.hex().upper()}|{ea.hex().upper()}|"

    # --- iReadCard_HSM / iWriteCard_HSM -------------------------------------------------------------------
    def read_card(self, step1_output: str) -> str:
        """pKey for ``iReadCard_HSM_Step2``: ``IA result ‖ IA data|EA cryptogram ‖ EA data|`` (the EA field empty
        when the files need no key).

        ``step1_output`` = ``region|ATR hist|algId|cardID|IA factor|IA data|key address|EA factor|EA data|``.
        """
        region, atr, alg_field, _card_id, ia_factor, ia_data, address, ea_factor, ea_data = _fields(
            step1_output, 9, "iReadCard_HSM_Step1 output")
        ia = self._internal_auth(alg_field, region, atr, ia_factor, ia_data)
        ea = b""
        if address:
            ea = self._external_auth(alg_field, self._key_name(address), region, atr, ea_factor, ea_data)
        return f"{ia.hex().upper()}|{ea.hex().upper()}|"

    def write_card(self, step1_output: str) -> str:
        """pKey for ``iWriteCard_HSM_Step2``: ``EA cryptogram ‖ EA data`` (32 hex) for the update key the Step 1
        output names; empty when it names none.

        ``step1_output`` = ``region|ATR hist|algId|cardID|key address|EA factor|EA data|``.
        """
        region, atr, alg_field, _card_id, address, ea_factor, ea_data = _fields(
            step1_output, 7, "iWriteCard_HSM_Step1 output")
        if not address:
            return ""
        return self._external_auth(alg_field, self._key_name(address), region, atr, ea_factor, ea_data).hex().upper()

    # --- iWriteCardBas (S7) --------------------------------------------------------------------------------
    def write_basic_info(self, write_bas_output: str, region: str, atr: str) -> str:
        """pKey for ``iWriteCardBas_HSM_Step1``: the EXTERNAL AUTHENTICATE data C ‖ D (32 hex) for the key the
        output names (``0094``: the update key 04 of EF05 and EF06).

        ``write_bas_output`` = iWriteCardBas's ``algId|R|D|key address|`` (R the card's challenge, D the terminal's
        random: S7's "two randoms"); ``region`` and ``atr`` (hex; the ATR or its historical bytes) come from
        iReadCardBas, as S7's kiosk takes them.
        """
        alg_field, ea_factor, ea_data, address = _fields(write_bas_output, 4, "iWriteCardBas output")
        return self._external_auth(alg_field, self._key_name(address), region, atr, ea_factor, ea_data).hex().upper()

    # --- iReloadPIN_HSM / iUnblockPIN_HSM -----------------------------------------------------------------
    def reload_pin_auth(self, step1_output: str, region: str, atr: str) -> str:
        """pKey for ``iReloadPIN_HSM_Step2``: the EXTERNAL AUTHENTICATE data C ‖ D (32 hex) for key 06.

        ``step1_output`` = ``algId|0090|EA factor (card challenge)|EA data|``; ``region`` and ``atr`` (hex; the
        ATR or its historical bytes) come from iReadCardBas(_HSM_Step1).
        """
        return self._pin_admin_auth(step1_output, region, atr, "iReloadPIN_HSM_Step1 output")

    def unblock_pin_auth(self, step1_output: str, region: str, atr: str) -> str:
        """pKey for ``iUnblockPIN_HSM_Step2``: as :meth:`reload_pin_auth` (the same key 06 opens both)."""
        return self._pin_admin_auth(step1_output, region, atr, "iUnblockPIN_HSM_Step1 output")

    def _pin_admin_auth(self, step1_output: str, region: str, atr: str, what: str) -> str:
        alg_field, address, ea_factor, ea_data = _fields(step1_output, 4, what)
        return self._external_auth(alg_field, self._key_name(address), region, atr, ea_factor, ea_data).hex().upper()

    def reload_pin_command(self, step2_output: str, region: str, atr: str) -> str:
        """pKey for ``iReloadPIN_HSM_Step3``: the whole ``84 24 00 01`` command (hex), the new PIN enciphered
        and the command MAC'd under the process key of the card's STK and challenge.

        ``step2_output`` = ``algId|0173|challenge|84240001Lc|new PIN|``.
        """
        alg_field, address, challenge, header_hex, pin = _fields(step2_output, 5, "iReloadPIN_HSM_Step2 output")
        alg, key = self._card_key(alg_field, self._key_name(address), region, atr)
        header = _hex(header_hex, "command header", (5,))
        try:
            body = crypto.sm_encipher(alg, key, _hex(challenge, "challenge", (8,)), crypto.pin_to_bcd(pin))
        except ValueError as exc:
            raise HsmError(str(exc)) from None
        if header[:4] != b"\x84\x24\x00\x01" or header[4] != len(body) + 4:
            raise HsmError(f"command header {header_hex} does not fit a {alg.name} PIN RELOAD")
        mac = crypto.sm_mac(alg, key, _hex(challenge, "challenge", (8,)), header + body)
        return (header + body + mac).hex().upper()

    def unblock_pin_command(self, step2_output: str, region: str, atr: str) -> str:
        """pKey for ``iUnblockPIN_HSM_Step3``: the whole ``84 24 00 00 04 MAC`` command (hex), MAC'd under the
        process key of the card's STK and challenge.

        ``step2_output`` = ``algId|0173|challenge|8424000004|``.
        """
        alg_field, address, challenge, header_hex = _fields(step2_output, 4, "iUnblockPIN_HSM_Step2 output")
        alg, key = self._card_key(alg_field, self._key_name(address), region, atr)
        header = _hex(header_hex, "command header", (5,))
        if header != b"\x84\x24\x00\x00\x04":
            raise HsmError(f"command header {header_hex} is not PIN UNBLOCK (8424000004)")
        return (header + crypto.sm_mac(alg, key, _hex(challenge, "challenge", (8,)), header)).hex().upper()

    # --- iDoDebit_HSM (docs/design.md §3.3) -----------------------------------------------------------------
    def _purchase(self, step1_output: str) -> tuple[Alg, bytes, _Purchase]:
        """The card's purchase key and the trade of an ``iDoDebit_HSM_Step1`` output, every field checked."""
        (alg_field, address, random, counter, amount, txn_type, terminal, when, key_version, purse_alg, region, atr,
         _card_id) = _fields(step1_output, 13, "iDoDebit_HSM_Step1 output")
        name = self._key_name(address)
        spec = key_spec(name)
        if spec.use is not KeyUse.PURCHASE:
            raise HsmError(f"key address {address} is not a purchase key")
        version = _hex(key_version, "key version", (1,))[0]      # a key's version is public (INITIALIZE answers it)
        if version != spec.psam.p2:
            raise HsmError(f"this HSM holds no purchase key of version {key_version}")
        alg, dpk = self._card_key(alg_field, name, region, atr)
        if _hex(purse_alg, "purse algorithm id", (1,))[0] != P.ALG_IDS[alg]:
            raise HsmError(f"purse algorithm id {purse_alg} does not fit algorithm {alg_field}")
        stamp = _hex(when, "date and time", (7,))
        try:
            P.check_datetime(stamp)
        except ValueError as exc:
            raise HsmError(str(exc)) from None
        trade = _Purchase(_hex(random, "card random", (4,)), int.from_bytes(_hex(counter, "offline counter", (2,)), "big"),
                          int.from_bytes(_hex(amount, "amount", (4,)), "big"), _hex(txn_type, "type", (1,))[0],
                          _hex(terminal, "terminal number", (6,)), stamp)
        return alg, dpk, trade

    def debit_mac1(self, step1_output: str) -> str:
        """pKey for ``iDoDebit_HSM_Step2``: ``terminal transaction number|YYYYMMDDhhmmss|MAC1|``, the transaction
        number this HSM's own (one per MAC1, as a PSAM numbers its purchases) and MAC1 under the card's purchase
        key, diversified from the city key by the ATR as the PSAM does (protocols.purse).

        ``step1_output`` = ``algId|key address|card random|offline counter|amount|type|terminal number|
        YYYYMMDDhhmmss|key version|purse algId|region|ATR hist|cardID|``.
        """
        alg, dpk, t = self._purchase(step1_output)
        txn = self.transaction_number
        if txn > 0xFFFFFFFF:
            raise HsmError("the terminal transaction number is exhausted")
        self.transaction_number = txn + 1
        sespk = P.session_key(alg, dpk, t.random, t.offline_counter, txn)
        mac = P.mac1(alg, sespk, t.amount, t.terminal, t.when, t.txn_type)
        return f"{txn:08X}|{t.when.hex()}|{mac.hex().upper()}|"

    def check_mac2(self, step1_output: str, step2_output: str) -> bool:
        """True when the MAC2 of ``iDoDebit_HSM_Step2``'s output is the card's proof of the debit Step 1 began
        (the card's session key of that trade and the output's terminal transaction number).

        ``step2_output`` = ``balance before|amount|balance after|card transaction number|terminal number|terminal
        transaction number|YYYYMMDDhhmmss|TAC|MAC2|``.
        """
        alg, dpk, t = self._purchase(step1_output)
        fields = _fields(step2_output, 9, "iDoDebit_HSM_Step2 output")
        txn = int.from_bytes(_hex(fields[5], "terminal transaction number", (4,)), "big")
        mac = _hex(fields[8], "MAC2", (4,))
        sespk = P.session_key(alg, dpk, t.random, t.offline_counter, txn)
        return crypto.equal(P.mac2(alg, sespk, t.amount), mac)

    @staticmethod
    def _key_name(address: str) -> str:
        try:
            return HSM_KEY_ADDRESSES[address]
        except KeyError:
            raise HsmError(f"unknown key address {address!r}") from None
