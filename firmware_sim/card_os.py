"""The social security card's operating system, at APDU level (implements ``firmware_sim.device.Device``).

Commands and status words: docs/sources.md §3; security: docs/design.md §3. Every access condition of
the profile is enforced; every failed PIN and external authentication is counted (the counter is written
to the image *before* the comparison, so pulling the power never saves a try, and a try is counted only
for a comparison that runs); a challenge is good for exactly one command; every MAC is checked; every
state change is written to the image atomically before the response leaves the card, and a change whose
write fails is undone (6581). Every input gets a status word: malformed data never raises out of
:meth:`CardOS.process`.

Secured commands (CLA 84/04) follow the production recipe: the terminal takes a fresh 8-byte challenge R,
the MAC is CBC-MAC (IV zero) under the process key E_STK(R) over header ‖ Lc ‖ data ‖ 80 00.., and PIN
UNBLOCK/RELOAD need a prior EXTERNAL AUTHENTICATE with key 06 — UNBLOCK carries no PIN at all.

The commands, their INS and the CLAs each is valid with come from ``protocols.commands`` (:meth:`CardOS.process`
dispatches on it).

Applications beside the social security environment (``firmware_sim.apps``: the bank application …) are reached
by SELECT of one of their names; while one is selected, every command but SELECT and GET RESPONSE goes to it
(docs/design.md §3.1).
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from firmware_sim.apps import APPLICATIONS, Application, CardStatus
from firmware_sim.device import SimulatedDevice
from firmware_sim.image import ACTIVE, BLOCKED, BLOCKED_PERMANENTLY, CardImage, DFState, ImageStore, load_card
from protocols import commands as C
from protocols import crypto
from protocols import purse as P
from protocols import sw as SW
from protocols.apdu import CommandAPDU
from protocols.errors import BadCardImage, MalformedApdu
from protocols.profile import BinaryFile, Cond, DFSpec, EF, KeyUse, RecordFile
from protocols.tlv import ber_encode


__all__ = ["CardOS", "CardStatus"]


@dataclass(frozen=True, slots=True)
class _Purchase:
    """What INITIALIZE FOR PURCHASE fixed for the DEBIT that follows it."""

    df: str
    amount: int
    terminal: bytes
    random: bytes
    offline_counter: int


def _sw(sw: int) -> bytes:
    return sw.to_bytes(2, "big")


_OK = _sw(SW.OK)
_CLA_SETS = {ins: command.clas for ins, command in C.CARD_BY_INS.items()}    # the CLAs each INS is valid with
_VALID_CLA = C.CARD_CLAS
_GET_RESPONSE = C.GET_RESPONSE.ins
_SELECT = C.SELECT.ins


class CardOS(SimulatedDevice):
    """An emulated social security card. ``store`` receives the image after every state change."""

    image: CardImage
    app: Application[Any] | None       # the application selected (firmware_sim.apps), None: the card OS's own

    def __init__(self, image: CardImage, store: ImageStore | None = None, *,
                 rng: Callable[[int], bytes] = os.urandom) -> None:
        self.image = image
        self.profile = image.profile
        self.alg = image.profile.alg
        self.store = store or ImageStore(None)
        self._memory_only = store is None        # no store: the image object is the card's memory, nothing to write
        self._durable = image.to_json()          # the last image written or loaded: what a failed write returns to
        self._rng = rng
        self._handlers: dict[int, Callable[[CommandAPDU, bytes | None], bytes]] = {
            C.SELECT.ins: self._select, C.READ_RECORD.ins: self._read_record, C.READ_BINARY.ins: self._read_binary,
            C.GET_CHALLENGE.ins: self._get_challenge, C.GET_RESPONSE.ins: self._get_response,
            C.INTERNAL_AUTHENTICATE.ins: self._internal_auth, C.EXTERNAL_AUTHENTICATE.ins: self._external_auth,
            C.VERIFY.ins: self._verify, C.CHANGE_PIN.ins: self._change_pin,
            C.PIN_UNBLOCK_RELOAD.ins: self._pin_unblock_reload, C.APPLICATION_BLOCK.ins: self._app_block,
            C.APPLICATION_UNBLOCK.ins: self._app_unblock, C.CARD_BLOCK.ins: self._card_block,
            C.UPDATE_RECORD.ins: self._update_record, C.UPDATE_BINARY.ins: self._update_binary,
            C.APPEND_RECORD.ins: self._append_record, C.GET_BALANCE.ins: self._get_balance,
            C.INITIALIZE_FOR_PURCHASE.ins: self._init_purchase, C.DEBIT_FOR_PURCHASE.ins: self._debit_purchase,
        }
        self._reset_volatile()

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], **kw: object) -> CardOS:
        """Open a card image file; every change is written back to it."""
        return cls(load_card(path), ImageStore(path), **kw)  # type: ignore[arg-type]  # kw holds __init__'s keyword options

    def reload(self) -> None:
        """Take up the image file as another process left it; another profile resets the volatile state."""
        image = load_card(self.store.path)  # type: ignore[arg-type]  # a store that reloads has a path
        if image.profile.name != self.profile.name:
            self._reset_volatile()
        self.image, self.profile, self.alg = image, image.profile, image.profile.alg
        self._durable = image.to_json()
        if self.app is not None and self.app.section not in image.apps:
            self.app = None

    def _reset_volatile(self) -> None:
        self.app = None
        self.df: DFSpec | None = None          # None = MF
        self.ef: EF | None = None
        self.pin_ok = False
        self.authed: set[int] = set()          # external-auth key IDs passed in the current DF
        self.challenge: bytes | None = None
        self.pending = b""                      # data waiting for GET RESPONSE
        self.purchase: _Purchase | None = None   # INITIALIZE FOR PURCHASE waiting for its DEBIT
        self._purchase_now: _Purchase | None = None

    def process(self, apdu: bytes) -> bytes:
        challenge, self.challenge = self.challenge, None   # a challenge serves exactly one command
        try:
            cmd = CommandAPDU.parse(apdu)
        except MalformedApdu:
            self.pending = b""
            return _sw(SW.WRONG_LENGTH)
        pending, self.pending = self.pending, b""
        cla, ins = cmd.cla, cmd.ins
        # A purchase serves the next command only: its DEBIT (GET RESPONSE of the INITIALIZE answer aside).
        self._purchase_now, self.purchase = self.purchase, None
        if ins == _GET_RESPONSE:
            self.purchase = self._purchase_now
        if cla not in _VALID_CLA:
            return _sw(SW.CLA_NOT_SUPPORTED)
        if ins not in _CLA_SETS:
            return _sw(SW.INS_NOT_SUPPORTED)
        if cla not in _CLA_SETS[ins]:
            return _sw(SW.CLA_NOT_SUPPORTED)
        handler = self._handlers.get(ins, self._not_selected)
        if self.image.card_blocked:
            return _sw(SW.FUNC_NOT_SUPPORTED)
        try:
            if ins == _GET_RESPONSE:
                return self._get_response(cmd, pending)
            if self.app is not None and ins != _SELECT:
                return self._app_command(self.app, cmd)
            return handler(cmd, challenge)
        except CardStatus as st:
            return st.data + _sw(st.sw)
        except (ValueError, KeyError, IndexError):   # a real COS answers 6F00 rather than stopping
            return _sw(SW.NO_PRECISE_DIAGNOSIS)

    # --- applications (firmware_sim.apps) ------------------------------------------------------------
    def _app_command(self, app: Application[Any], cmd: CommandAPDU) -> bytes:
        """A command while ``app`` is selected: 6D00 if it does not take the INS, 6E00 if not with this CLA."""
        command = app.commands.get(cmd.ins)
        if command is None:
            raise CardStatus(SW.INS_NOT_SUPPORTED)
        if cmd.cla not in command.clas:
            raise CardStatus(SW.CLA_NOT_SUPPORTED)
        return app.process(self.image.apps[app.section], cmd, self)

    def _not_selected(self, cmd: CommandAPDU, _ch: bytes | None) -> bytes:
        """A command of an application that is not selected (GET PROCESSING OPTIONS …)."""
        raise CardStatus(SW.CONDITIONS_NOT_SATISFIED)

    def _select_app(self, name: bytes, cmd: CommandAPDU) -> bytes | None:
        """SELECT by name of an application the card carries; None when none answers to ``name``."""
        for section, data in self.image.apps.items():
            kind = APPLICATIONS[section]
            if name in kind.names(data):
                self._enter_df(None)
                app = kind()
                fci = app.select(data, name)
                self.app = app
                return _OK if cmd.p2 == 0x0C else self._case3_data(fci, cmd.le)
        return None

    # What the selected application may ask of the card (firmware_sim.apps.base.CardServices).
    def persist(self) -> None:
        self._persist()

    def reply(self, data: bytes, le: int | None) -> bytes:
        return self._with_le(data, le)

    def offer(self, data: bytes, le: int | None) -> bytes:
        return self._case3_data(data, le)

    def random(self, n: int) -> bytes:
        return self._rng(n)

    # --- helpers -------------------------------------------------------------------------------------
    def _state(self) -> DFState:
        if self.df is None:
            raise CardStatus(SW.CONDITIONS_NOT_SATISFIED)
        return self.image.dfs[self.df.name]

    def _check_app_usable(self) -> DFState:
        st = self._state()
        if st.status == BLOCKED:
            raise CardStatus(SW.CONDITIONS_NOT_SATISFIED)
        if st.status == BLOCKED_PERMANENTLY:
            raise CardStatus(SW.APP_PERMANENTLY_BLOCKED)
        return st

    def _persist(self) -> None:
        """Write the image before the response leaves the card. A write that fails answers 6581 and takes the
        card back to the image on disk (the old one, or the new one when only the folder's fsync failed); where
        none can be read back (no file, a file gone or unreadable), to the last image it wrote or loaded. A
        change that was not written is never kept. A card without a store keeps its image in memory only: there
        is nothing to write and no write to fail."""
        if self._memory_only:
            return
        doc = self.image.to_json()
        try:
            self.store.save(doc)
        except OSError:
            self._roll_back()
            raise CardStatus(SW.MEMORY_FAILURE) from None
        self._durable = doc

    def _roll_back(self) -> None:
        image = None
        if self.store.path is not None:
            try:
                image = load_card(self.store.path)
            except (OSError, BadCardImage):
                image = None
        if image is None:
            image = CardImage.from_json(self._durable)
        self.image, self.profile, self.alg = image, image.profile, image.profile.alg

    def _with_le(self, data: bytes, le: int | None) -> bytes:
        """Answer ``data`` when Le fits it exactly or is 'all' (00 / 0000); else 6Cxx (ISO 7816-3 §12.2.2).
        A profile without ``strict_le`` answers the data with 9000 whatever Le says, as old cards do."""
        n = len(data)
        if le == n or (le is not None and le >= 256 and n <= le) or (not self.profile.strict_le and n):
            return data + _OK
        if le is None and n == 0:
            return _OK
        raise CardStatus(0x6C00 | (n & 0xFF))

    def _case3_data(self, data: bytes, le: int | None) -> bytes:
        """Data of a command whose Le may be absent: without Le the card offers it with 61xx (xx the bytes
        available, 00 for 256 or more: ISO/IEC 7816-4 §5.1.3), as GET RESPONSE does."""
        if le is None:
            if not data:
                return _OK
            self.pending = data
            return _sw(0x6100 | (len(data) if len(data) < 256 else 0))
        if le >= len(data) or le >= 256:
            return data + _OK
        raise CardStatus(0x6C00 | len(data))

    def _ef_for(self, sfi: int) -> EF:
        if sfi == 0:
            if self.ef is None:
                raise CardStatus(SW.NO_CURRENT_EF)
            return self.ef
        if self.df is None:
            raise CardStatus(SW.FILE_NOT_FOUND)
        for f in self.df.files:
            if f.sfi == sfi:
                self.ef = f
                return f
        raise CardStatus(SW.FILE_NOT_FOUND)

    def _access_ok(self, acc_cond: Cond, key_id: int | None) -> bool:
        if acc_cond is Cond.FREE:
            return True
        if acc_cond is Cond.PIN:
            return self.pin_ok
        if acc_cond is Cond.KEY:
            return key_id in self.authed
        if acc_cond is Cond.PIN_OR_KEY:
            return self.pin_ok or key_id in self.authed
        if acc_cond is Cond.PIN_AND_KEY:
            return self.pin_ok and key_id in self.authed
        return False

    def _check_read(self, ef: EF) -> None:
        if not self._access_ok(ef.read.cond, ef.read.key_id):
            raise CardStatus(SW.SECURITY_NOT_SATISFIED)

    def _sm_key(self, challenge: bytes | None) -> bytes:
        """The process key of a secured command: E_STK(R) for the last challenge R (8 bytes)."""
        if challenge is None or len(challenge) != 8:
            raise CardStatus(SW.DATA_INVALID)
        st = self._state()
        try:
            key = st.keys[self.df.key_by_use(KeyUse.MAC).key_id].value  # type: ignore[union-attr]  # every DF has a MAC key
        except KeyError:
            raise CardStatus(SW.REF_NOT_FOUND) from None
        return crypto.process_key(self.alg, key, challenge)

    def _check_mac(self, cmd: CommandAPDU, challenge: bytes | None) -> tuple[bytes, bytes]:
        """Verify the 4-byte MAC at the end of a CLA 04/84 command: CBC-MAC under E_STK(R), IV zero, over
        header ‖ Lc ‖ data ‖ 80 00.. Returns the data without the MAC and the process key."""
        if len(cmd.data) < 4:
            raise CardStatus(SW.SM_MISSING)
        if len(cmd.data) > 0xFF:           # the MAC covers a one-byte Lc
            raise CardStatus(SW.WRONG_LENGTH)
        sk = self._sm_key(challenge)
        body, given = cmd.data[:-4], cmd.data[-4:]
        header = bytes((cmd.cla, cmd.ins, cmd.p1, cmd.p2, len(cmd.data)))
        if not crypto.equal(crypto.mac(self.alg, sk, header + body), given):
            raise CardStatus(SW.SM_INCORRECT)
        return body, sk

    def _check_mac_only(self, cmd: CommandAPDU, challenge: bytes | None) -> None:
        """Commands whose whole data field is the MAC (block/unblock, PIN UNBLOCK)."""
        if len(cmd.data) != 4:
            raise CardStatus(SW.SM_MISSING if len(cmd.data) < 4 else SW.WRONG_LENGTH)
        self._check_mac(cmd, challenge)

    def _check_update(self, ef: EF, cmd: CommandAPDU, challenge: bytes | None) -> bytes:
        """Enforce the update condition; return the plain data (MAC stripped for CLA 04)."""
        acc = ef.update
        if acc.cond is Cond.NEVER:
            raise CardStatus(SW.SECURITY_NOT_SATISFIED)
        data = cmd.data
        if cmd.cla == 0x04:
            data, _ = self._check_mac(cmd, challenge)
        elif acc.cond is Cond.MAC:
            raise CardStatus(SW.SM_MISSING)
        if acc.cond is not Cond.MAC and not self._access_ok(acc.cond, acc.key_id):
            raise CardStatus(SW.SECURITY_NOT_SATISFIED)
        return data

    # --- SELECT (docs/sources.md §3.1) ------------------------------------------------------------------
    def _fci(self, spec: DFSpec) -> bytes:
        """``6F 84 <name> A5 (88 01 1E [9F0C 03 86 01 alg])``: gen1/gen2 cards do not name the algorithm."""
        prop = ber_encode(0x88, b"\x1E")
        if self.profile.fci_alg:
            prop += ber_encode(0x9F0C, bytes((0x86, 0x01, int(self.alg))))
        return ber_encode(0x6F, ber_encode(0x84, spec.aid) + ber_encode(0xA5, prop))

    def _enter_df(self, spec: DFSpec | None) -> None:
        if spec is not self.df:
            self.pin_ok = False
            self.authed = set()
        self.df = spec
        self.ef = None

    def _select(self, cmd: CommandAPDU, _ch: bytes | None) -> bytes:
        """A SELECT the selected application answers (its own files) keeps it selected; every other SELECT ends the
        selection of an application (firmware_sim.apps), and one of its names starts a new one."""
        if self.app is not None:
            answer = self.app.select_file(self.image.apps[self.app.section], cmd, self)
            if answer is not None:
                return answer
        self.app = None
        p1, p2, data = cmd.p1, cmd.p2, cmd.data
        if p2 not in (0x00, 0x0C):
            raise CardStatus(SW.WRONG_P1P2)
        if p1 == 0x04:
            if not 1 <= len(data) <= 16:
                raise CardStatus(SW.WRONG_LENGTH)
            for spec in self.profile.dfs:
                if spec.aid == data:
                    return self._select_df(spec, cmd)
            selected = self._select_app(data, cmd)
            if selected is not None:
                return selected
            raise CardStatus(SW.FILE_NOT_FOUND)
        if p1 not in (0x00, 0x01, 0x02):
            raise CardStatus(SW.WRONG_P1P2)
        if len(data) != 2:
            raise CardStatus(SW.WRONG_LENGTH)
        fid = (data[0] << 8) | data[1]
        if p1 == 0x01:   # a DF under the current one: the applications under SSSE
            if self.df is self.profile.ssse:
                for spec in self.profile.dfs[1:]:
                    if spec.fid == fid:
                        return self._select_df(spec, cmd)
            raise CardStatus(SW.FILE_NOT_FOUND)
        if p1 == 0x00:
            if fid == 0x3F00:
                self._enter_df(None)
                fci = next((f for f in (APPLICATIONS[name].mf_fci(data) for name, data in self.image.apps.items())
                            if f), b"")
                return _OK if not fci or p2 == 0x0C else self._case3_data(fci, cmd.le)
            for spec in self.profile.dfs:
                if spec.fid == fid:
                    return self._select_df(spec, cmd)
        if self.df is not None:
            for f in self.df.files:
                if f.fid == fid:
                    self._check_app_usable()
                    self.ef = f
                    return _OK
        raise CardStatus(SW.FILE_NOT_FOUND)

    def _select_df(self, spec: DFSpec, cmd: CommandAPDU) -> bytes:
        self._enter_df(spec)
        status = self.image.dfs[spec.name].status
        fci = b"" if cmd.p2 == 0x0C else self._fci(spec)
        if status != ACTIVE:
            return fci + _sw(SW.WARN_INVALIDATED)
        return self._case3_data(fci, cmd.le)

    # --- READ RECORD / READ BINARY -------------------------------------------------------------------
    def _read_record(self, cmd: CommandAPDU, _ch: bytes | None) -> bytes:
        """P2 = SFI<<3 | 4 record P1, | 0 first record with tag P1, | 5 all records from P1 to the last
        (concatenated; Le is then the most the terminal takes, as ``00 B2 01 05 FF`` on a real card)."""
        mode = cmd.p2 & 0x07
        if mode not in (0x04, 0x00, 0x05) or cmd.data:
            raise CardStatus(SW.WRONG_P1P2 if mode not in (0x04, 0x00, 0x05) else SW.WRONG_LENGTH)
        st = self._check_app_usable()
        ef = self._ef_for(cmd.p2 >> 3)
        if not isinstance(ef, RecordFile):
            raise CardStatus(SW.INCOMPATIBLE_FILE)
        self._check_read(ef)
        records = st.records[ef.fid]
        p1 = cmd.p1
        if mode == 0x05:
            if not 1 <= p1 <= len(records):
                raise CardStatus(SW.RECORD_NOT_FOUND)
            data = b"".join(records[p1 - 1:])
            if cmd.le is None:
                return self._case3_data(data, None)
            if cmd.le >= len(data) or not self.profile.strict_le:
                return data + _OK
            raise CardStatus(0x6C00 | (len(data) & 0xFF))
        if mode == 0x04:
            if not 1 <= p1 <= len(records):
                raise CardStatus(SW.RECORD_NOT_FOUND)
            rec = records[p1 - 1]
        else:
            for rec in records:
                if rec and rec[0] == p1:
                    break
            else:
                raise CardStatus(SW.RECORD_NOT_FOUND)
        return self._with_le(rec, cmd.le)

    def _binary_target(self, cmd: CommandAPDU) -> tuple[BinaryFile, int]:
        """READ/UPDATE BINARY addressing: P1 b8 set → SFI in b5..b1 and offset P2, else offset P1P2 in the current EF."""
        if cmd.p1 & 0x80:
            if cmd.p1 & 0x60:
                raise CardStatus(SW.WRONG_P1P2)
            ef = self._ef_for(cmd.p1 & 0x1F)
            offset = cmd.p2
        else:
            ef = self._ef_for(0)
            offset = (cmd.p1 << 8) | cmd.p2
        if not isinstance(ef, BinaryFile):
            raise CardStatus(SW.INCOMPATIBLE_FILE)
        return ef, offset

    def _read_binary(self, cmd: CommandAPDU, _ch: bytes | None) -> bytes:
        if cmd.data:
            raise CardStatus(SW.WRONG_LENGTH)
        st = self._check_app_usable()
        ef, offset = self._binary_target(cmd)
        self._check_read(ef)
        if cmd.le is None:
            raise CardStatus(SW.WRONG_LENGTH)
        if offset >= ef.size:
            raise CardStatus(0x6B00)
        content = st.binaries[ef.fid]
        want = min(cmd.le, ef.size - offset)
        chunk = bytes(content[offset:offset + want])
        if cmd.le > want and cmd.le not in (256, 65536):
            return chunk + _sw(0x6282)
        return chunk + _OK

    # --- GET CHALLENGE / GET RESPONSE ----------------------------------------------------------------
    def _get_challenge(self, cmd: CommandAPDU, _ch: bytes | None) -> bytes:
        if cmd.p1 or cmd.p2:
            raise CardStatus(SW.WRONG_P1P2)
        if cmd.data or cmd.le not in (4, 8, 16):
            raise CardStatus(SW.WRONG_LENGTH)
        self.challenge = self._rng(cmd.le)
        return self.challenge + _OK

    def _get_response(self, cmd: CommandAPDU, pending: bytes | None) -> bytes:
        if cmd.p1 or cmd.p2:
            raise CardStatus(SW.WRONG_P1P2)
        if not pending:
            raise CardStatus(SW.CONDITIONS_NOT_SATISFIED)
        le = cmd.le if cmd.le is not None else 0
        if le == 0:
            self.pending = pending
            raise CardStatus(0x6C00 | (len(pending) & 0xFF))
        if le >= len(pending):
            if le > len(pending) and le < 256:
                self.pending = pending
                raise CardStatus(0x6C00 | len(pending))
            return pending + _OK
        self.pending = pending[le:]
        left = len(self.pending)
        return pending[:le] + _sw(0x6100 | (left if left < 256 else 0))

    # --- authentication (docs/design.md §3 "Process key") --------------------------------------------
    def _internal_auth(self, cmd: CommandAPDU, _ch: bytes | None) -> bytes:
        """``00 88 00 00 10 P ‖ D`` → E_SK(D), SK = E_IRK(P): the terminal (its PSAM) checks the card."""
        if cmd.p1 != 0x00:
            raise CardStatus(SW.WRONG_P1P2)
        st = self._check_app_usable()
        if len(cmd.data) != 16:
            raise CardStatus(SW.WRONG_LENGTH)
        assert self.df is not None
        if cmd.p2:
            spec = self.df.key_by_id(cmd.p2, KeyUse.INTERNAL)
        else:
            spec = next((k for k in self.df.keys if k.use is KeyUse.INTERNAL), None)
        if spec is None:
            raise CardStatus(SW.REF_NOT_FOUND)
        answer = crypto.internal_auth_answer(self.alg, st.keys[spec.key_id].value, cmd.data)
        return self._case3_data(answer, cmd.le)

    def _external_auth(self, cmd: CommandAPDU, challenge: bytes | None) -> bytes:
        """``00 82 00 KID 10 C ‖ D``: accepted iff C = E_SK(D), SK = E_K(R) for the card's last challenge R.

        Every input is checked before the try is counted, so only a comparison that runs costs a try."""
        if cmd.p1 != 0x00:
            raise CardStatus(SW.WRONG_P1P2)
        st = self._check_app_usable()
        assert self.df is not None
        spec = self.df.key_by_id(cmd.p2, KeyUse.EXTERNAL)
        if spec is None:
            raise CardStatus(SW.REF_NOT_FOUND)
        if len(cmd.data) != 16:
            raise CardStatus(SW.WRONG_LENGTH)
        key = st.keys[spec.key_id]
        if key.tries_left == 0:
            raise CardStatus(SW.AUTH_BLOCKED)
        if challenge is None or len(challenge) != 8:
            raise CardStatus(SW.DATA_INVALID)
        expected = crypto.external_auth_cryptogram(self.alg, key.value, challenge, cmd.data[8:])
        # Count the try first and make it durable; give it back only after success.
        key.tries_left -= 1
        self._persist()
        if not crypto.equal(expected, cmd.data[:8]):
            raise CardStatus(SW.AUTH_BLOCKED if key.tries_left == 0 else 0x63C0 | key.tries_left)
        key.tries_left = key.max_tries
        self._persist()
        self.authed.add(spec.key_id)
        return _OK

    # --- PIN (docs/design.md §3 "PIN") ---------------------------------------------------------------
    def _count_pin_try(self, candidate: bytes) -> None:
        """Compare a PIN, counting the try durably before the comparison."""
        img = self.image
        if img.pin_tries_left == 0:
            raise CardStatus(SW.AUTH_BLOCKED)
        img.pin_tries_left -= 1
        self._persist()
        if not crypto.equal(candidate, crypto.pin_to_bcd(img.pin)):
            raise CardStatus(SW.AUTH_BLOCKED if img.pin_tries_left == 0 else 0x63C0 | img.pin_tries_left)
        img.pin_tries_left = self.profile.pin_tries
        self._persist()

    def _verify(self, cmd: CommandAPDU, _ch: bytes | None) -> bytes:
        if cmd.p1 != 0x00 or cmd.p2 != 0x00:
            raise CardStatus(SW.WRONG_P1P2)
        self._check_app_usable()
        if not cmd.data:   # ISO 7816-4 §11.5.6: no data asks for the try counter
            if self.image.pin_tries_left == 0:
                raise CardStatus(SW.AUTH_BLOCKED)
            return _OK if self.pin_ok else _sw(0x63C0 | self.image.pin_tries_left)
        if not 2 <= len(cmd.data) <= 6:
            raise CardStatus(SW.WRONG_LENGTH)
        self.pin_ok = False
        self._count_pin_try(cmd.data)
        self.pin_ok = True
        return _OK

    def _change_pin(self, cmd: CommandAPDU, _ch: bytes | None) -> bytes:
        """``80 5E 01 00 old ‖ FF ‖ new``: no prior VERIFY; the old PIN is checked (and counted) here."""
        if cmd.p1 != 0x01 or cmd.p2 != 0x00:
            raise CardStatus(SW.WRONG_P1P2)
        self._check_app_usable()
        old, sep, new = cmd.data.partition(b"\xFF")
        if not sep or not 2 <= len(old) <= 6:
            raise CardStatus(SW.WRONG_DATA)
        try:
            new_pin = crypto.bcd_to_pin(new)
            crypto.pin_to_bcd(new_pin)
        except ValueError:
            raise CardStatus(SW.WRONG_DATA) from None
        self._count_pin_try(old)
        self.image.pin = new_pin
        self._persist()
        self.pin_ok = True
        return _OK

    def _pin_unblock_reload(self, cmd: CommandAPDU, challenge: bytes | None) -> bytes:
        """PIN UNBLOCK ``84 24 00 00 04 MAC`` and RELOAD ``84 24 00 01 Lc E_SK(LV new PIN) ‖ MAC``, both only
        after EXTERNAL AUTHENTICATE with the PIN-management key (06). UNBLOCK carries no PIN, so it tells
        nothing about the PIN and costs no try; it resets the counter."""
        if cmd.p1 != 0x00 or cmd.p2 not in (0x00, 0x01):
            raise CardStatus(SW.WRONG_P1P2)
        self._check_app_usable()
        if self.df is not self.profile.ssse:
            raise CardStatus(SW.CONDITIONS_NOT_SATISFIED)
        if self.profile.pin_admin_key not in self.authed:
            raise CardStatus(SW.SECURITY_NOT_SATISFIED)
        img = self.image
        if cmd.p2 == 0x00:
            self._check_mac_only(cmd, challenge)
        else:
            body, sk = self._check_mac(cmd, challenge)
            try:
                pin = crypto.bcd_to_pin(crypto.decipher_lv(self.alg, sk, body))
                crypto.pin_to_bcd(pin)
            except ValueError:
                raise CardStatus(SW.WRONG_DATA) from None
            img.pin = pin
        img.pin_tries_left = self.profile.pin_tries
        self._persist()
        return _OK

    # --- blocking (docs/sources.md §3.1) -----------------------------------------------------------------------
    def _app_block(self, cmd: CommandAPDU, challenge: bytes | None) -> bytes:
        if cmd.p1 != 0x00 or cmd.p2 not in (0x00, 0x01):
            raise CardStatus(SW.WRONG_P1P2)
        st = self._state()
        if st.status == BLOCKED_PERMANENTLY:
            raise CardStatus(SW.APP_PERMANENTLY_BLOCKED)
        self._check_mac_only(cmd, challenge)
        st.status = BLOCKED_PERMANENTLY if cmd.p2 == 0x01 else BLOCKED
        self._persist()
        self.pin_ok = False
        self.authed = set()
        return _OK

    def _app_unblock(self, cmd: CommandAPDU, challenge: bytes | None) -> bytes:
        if cmd.p1 or cmd.p2:
            raise CardStatus(SW.WRONG_P1P2)
        st = self._state()
        if st.status == BLOCKED_PERMANENTLY:
            raise CardStatus(SW.APP_PERMANENTLY_BLOCKED)
        self._check_mac_only(cmd, challenge)
        if st.status != ACTIVE:
            st.status = ACTIVE
            self._persist()
        return _OK

    def _card_block(self, cmd: CommandAPDU, challenge: bytes | None) -> bytes:
        if cmd.p1 or cmd.p2:
            raise CardStatus(SW.WRONG_P1P2)
        self._check_app_usable()
        self._check_mac_only(cmd, challenge)
        self.image.card_blocked = True
        self._persist()
        self._enter_df(None)
        return _OK

    # --- updates -------------------------------------------------------------------------------------
    def _update_record(self, cmd: CommandAPDU, challenge: bytes | None) -> bytes:
        mode = cmd.p2 & 0x07
        if mode not in (0x04, 0x00):
            raise CardStatus(SW.WRONG_P1P2)
        st = self._check_app_usable()
        ef = self._ef_for(cmd.p2 >> 3)
        if not isinstance(ef, RecordFile) or ef.cyclic_records:
            raise CardStatus(SW.INCOMPATIBLE_FILE)
        data = self._check_update(ef, cmd, challenge)
        records = st.records[ef.fid]
        if mode == 0x04:
            index = cmd.p1 - 1
            if not 0 <= index < len(records):
                raise CardStatus(SW.RECORD_NOT_FOUND)
        else:
            index = next((i for i, r in enumerate(records) if r[0] == cmd.p1), -1)
            if index < 0:
                raise CardStatus(SW.RECORD_NOT_FOUND)
        old = records[index]
        if len(data) != len(old):
            raise CardStatus(SW.WRONG_LENGTH)
        if data[0] != old[0] or data[1] != old[1]:
            raise CardStatus(SW.WRONG_DATA)
        self._check_template(ef, index, bytes(data[2:]))
        records[index] = bytes(data)
        self._persist()
        return _OK

    @staticmethod
    def _check_template(ef: RecordFile, index: int, value: bytes) -> None:
        """A B-TLV template record keeps its sub-items' tags and lengths (6A80 otherwise; all FF erases it):
        a record no reader could cut into its sub-items is refused (docs/design.md §3)."""
        item = ef.items[index] if index < len(ef.items) else None
        if item is None or not item.subs or value.count(0xFF) == len(value):
            return
        try:
            item.sub_fields(value)
        except ValueError:
            raise CardStatus(SW.WRONG_DATA) from None

    def _append_record(self, cmd: CommandAPDU, challenge: bytes | None) -> bytes:
        if cmd.p1 != 0x00 or cmd.p2 & 0x07:
            raise CardStatus(SW.WRONG_P1P2)
        st = self._check_app_usable()
        ef = self._ef_for(cmd.p2 >> 3)
        if not isinstance(ef, RecordFile) or not ef.cyclic_records:
            raise CardStatus(SW.INCOMPATIBLE_FILE)
        data = self._check_update(ef, cmd, challenge)
        if len(data) != ef.record_size:
            raise CardStatus(SW.WRONG_LENGTH)
        records = st.records[ef.fid]
        records.insert(0, bytes(data))
        del records[ef.cyclic_records:]
        self._persist()
        return _OK

    def _update_binary(self, cmd: CommandAPDU, challenge: bytes | None) -> bytes:
        st = self._check_app_usable()
        ef, offset = self._binary_target(cmd)
        data = self._check_update(ef, cmd, challenge)
        if not data:
            raise CardStatus(SW.WRONG_LENGTH)
        if offset + len(data) > ef.size:
            raise CardStatus(0x6B00 if offset >= ef.size else SW.WRONG_LENGTH)
        st.binaries[ef.fid][offset:offset + len(data)] = data
        self._persist()
        return _OK


    # --- the purse (docs/design.md §3.3; protocols.purse, JR/T 0025.2 §5.2) ---------------------------
    def _purse_state(self) -> tuple[DFState, Any]:
        """The current DF's state and purse; 6985 in a DF without one, 6A82 on a card issued before the purse,
        6982 before the PIN (the purse's access condition)."""
        st = self._check_app_usable()
        assert self.df is not None
        if self.df.purse is None:
            raise CardStatus(SW.CONDITIONS_NOT_SATISFIED)
        if st.purse is None:
            raise CardStatus(SW.FILE_NOT_FOUND)
        if not self.pin_ok:
            raise CardStatus(SW.SECURITY_NOT_SATISFIED)
        return st, st.purse

    def _get_balance(self, cmd: CommandAPDU, _ch: bytes | None) -> bytes:
        """``80 5C 00 02 04`` → the balance (4 bytes, fen)."""
        if cmd.p1 != 0x00 or cmd.p2 != P.P2_PURSE:
            raise CardStatus(SW.WRONG_P1P2)
        if cmd.data:
            raise CardStatus(SW.WRONG_LENGTH)
        _st, purse = self._purse_state()
        return self._with_le(purse.balance.to_bytes(4, "big"), cmd.le)

    def _init_purchase(self, cmd: CommandAPDU, _ch: bytes | None) -> bytes:
        """``80 50 01 02 0B`` key index ‖ amount ‖ terminal number → balance ‖ offline counter ‖ overdraft
        limit ‖ key version ‖ algorithm id ‖ random (case 4: 61 0F without Le)."""
        if cmd.p1 != P.P1_PURCHASE or cmd.p2 != P.P2_PURSE:
            raise CardStatus(SW.WRONG_P1P2)
        if len(cmd.data) != P.INIT_LC:
            raise CardStatus(SW.WRONG_LENGTH)
        st, purse = self._purse_state()
        assert self.df is not None and self.df.purse is not None
        spec = self.df.key_by_id(cmd.data[0], KeyUse.PURCHASE)
        if spec is None:
            raise CardStatus(SW.KEY_INDEX_UNSUPPORTED)
        if st.keys[spec.key_id].tries_left == 0:
            raise CardStatus(SW.AUTH_BLOCKED)
        amount = int.from_bytes(cmd.data[1:5], "big")
        if amount == 0:
            raise CardStatus(SW.WRONG_DATA)
        if amount > purse.balance + self.df.purse.overdraft_limit:
            raise CardStatus(SW.INSUFFICIENT_BALANCE)
        if purse.offline_counter == 0xFFFF:       # the counter cannot number another debit
            raise CardStatus(SW.CONDITIONS_NOT_SATISFIED)
        random = self._rng(4)
        answer = P.InitResponse(purse.balance, purse.offline_counter, self.df.purse.overdraft_limit,
                                self.df.purse.key_version, P.ALG_IDS[self.alg], random).encode()
        self.purchase = _Purchase(self.df.name, amount, bytes(cmd.data[5:11]), random, purse.offline_counter)
        return self._case3_data(answer, cmd.le)

    def _debit_purchase(self, cmd: CommandAPDU, _ch: bytes | None) -> bytes:
        """``80 54 01 00 0F`` terminal transaction number ‖ date ‖ time ‖ MAC1 → TAC ‖ MAC2.

        Only right after INITIALIZE FOR PURCHASE (6901 otherwise). A wrong MAC1 answers 9302 and costs the
        purchase key a try, counted durably before the comparison; the last one blocks the key (INITIALIZE then
        answers 6983). The debit, the offline counter and the log record are one image write: the card holds
        all of them or none."""
        if cmd.p1 != P.P1_PURCHASE or cmd.p2 != 0x00:
            raise CardStatus(SW.WRONG_P1P2)
        if len(cmd.data) != P.DEBIT_LC:
            raise CardStatus(SW.WRONG_LENGTH)
        purchase = self._purchase_now
        if purchase is None or self.df is None or self.df.name != purchase.df:
            raise CardStatus(SW.INVALID_STATE)
        st, purse = self._purse_state()
        assert self.df.purse is not None
        when = bytes(cmd.data[4:11])
        try:
            P.check_datetime(when)
        except ValueError:
            raise CardStatus(SW.WRONG_DATA) from None
        dpk = self.df.key_by_use(KeyUse.PURCHASE)
        key = st.keys[dpk.key_id]
        if key.tries_left == 0:
            raise CardStatus(SW.AUTH_BLOCKED)
        txn = int.from_bytes(cmd.data[0:4], "big")
        sespk = P.session_key(self.alg, key.value, purchase.random, purchase.offline_counter, txn)
        expected = P.mac1(self.alg, sespk, purchase.amount, purchase.terminal, when)
        key.tries_left -= 1
        self._persist()
        if not crypto.equal(expected, cmd.data[11:15]):
            raise CardStatus(SW.MAC_INVALID)
        key.tries_left = key.max_tries
        record = P.LogRecord(purchase.offline_counter, self.df.purse.overdraft_limit, purchase.amount,
                             P.PURCHASE_TYPE, purchase.terminal, when).encode()
        log = self.df.ef(self.df.purse.log_fid)
        assert isinstance(log, RecordFile)
        records = st.records[log.fid]
        purse.balance -= purchase.amount
        purse.offline_counter += 1
        records.insert(0, record)
        del records[log.cyclic_records:]
        self._persist()              # a failed write takes the card back to the image on disk (6581)
        dtk = st.keys[self.df.key_by_use(KeyUse.TAC).key_id].value
        answer = (P.tac(self.alg, dtk, purchase.amount, purchase.terminal, txn, when)
                  + P.mac2(self.alg, sespk, purchase.amount))
        return self._case3_data(answer, cmd.le)
