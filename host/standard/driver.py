"""The standard read/write-card interface (社会保障卡读写终端接口, docs/sources.md §6) over any reader.

``SSCardDriver`` has one method per interface function, named as in SSCardDriver.dll, with Python-friendly
signatures: the ``char*`` inputs are ``str`` arguments and every function returns ``(code, pOutInfo)``.
``code`` is 0 or a negative code of docs/sources.md §6.3 (card status words as −SW), always computed by
``host.errors.error_code``. On failure pOutInfo is the error message followed by ``|``; for a wrong PIN (-51)
it is ``<tries left>|<message>|``.

``iType`` (docs/sources.md §6.1): 1 contact, 2 contactless, 3 auto (contact first), 4 auto (contactless first).
The emulator and the supported readers are contact-only, so a driver has a contactless interface only
when one is given (``contactless=``, a ``Terminal`` whose card slot is the contactless field). Without
one, iType 2 answers -13 (not supported) and iTypes 3 and 4 both use the contact slot. With both,
the auto types probe the first interface for a card and fall back to the other. Other values: -14.

Like the DLL, every function powers the card down when it ends; the HSM flows keep the card powered
from Step 1 to their last step (calling any other function in between abandons them).
"""
from __future__ import annotations

import base64
import binascii
import contextlib
from collections.abc import Callable
from typing import TypeVar

from host import errors as E
from host.engine import TraceHook
from host.pki import verify_quietly
from host.spec import open_terminal
from host.standard import hsm_steps
from host.standard.flows import (
    Access, authenticate_card, authenticate_terminal, basic_info_output, basic_write_plan, check_card_info,
    check_value, check_write_refs, ef06_read_key, read_card_id, read_items, read_ref, refuse_blocked,
)
from host.standard.formats import (
    CardInfo, format_file_values, join_fields, parse_card_info, parse_file_addr,
    parse_hsm_pay_info, parse_pay_info, parse_write_data,
)
from host.standard.pinpad import HolderPin, PadNotice, PinEntry, PinPrompt, ask_pin, console_pin_entry
from host.terminal import Terminal
from protocols import purse as P
from protocols import sm2
from protocols import x509
from protocols.errors import MalformedFrame
from protocols.pinpad import DEFAULT_TIMEOUT
from protocols.profile import Item

Result = tuple[int, str]
_T = TypeVar("_T")


# --- the driver --------------------------------------------------------------------------------------------
class SSCardDriver:
    """The interface functions of docs/sources.md §6.1 over a contact terminal (and optionally a contactless one)."""

    def __init__(self, contact: Terminal | str | None = None, *, contactless: Terminal | None = None,
                 pin_entry: PinEntry = console_pin_entry, device_number: str = "",
                 trace: TraceHook | None = None, pin_timeout: int = DEFAULT_TIMEOUT,
                 pin_pad_notice: PadNotice | None = None) -> None:
        """``contact``: a Terminal or a reader spec (``sim``, ``pcsc`` …; default ``$SSCARD_READER``).
        ``device_number`` is reported as 终端设备号 (the last iReadCardBas field). A card reader with a PIN pad
        takes the holder's PIN there (``pin_timeout`` seconds per key; ``pin_pad_notice`` is told first), else
        ``pin_entry`` is asked (``host.standard.pinpad``)."""
        self.contact = contact if isinstance(contact, Terminal) else open_terminal(contact, trace=trace)
        self.contactless = contactless
        self.pin_entry = pin_entry
        self.pin_timeout = pin_timeout
        self.pin_pad_notice = pin_pad_notice
        self.device_number = device_number
        self._hsm: hsm_steps.Pending | None = None

    def _holder(self) -> HolderPin:
        return HolderPin(self.pin_entry, self.pin_timeout, self.pin_pad_notice)

    # --- plumbing ------------------------------------------------------------------------------------------
    def _terminal(self, itype: int) -> Terminal:
        if itype not in (1, 2, 3, 4):
            raise E.BadParameter(f"iType must be 1 (contact), 2 (contactless), 3 or 4 (auto), got {itype!r}")
        orders: dict[int, list[Terminal | None]] = {
            1: [self.contact], 2: [self.contactless], 3: [self.contact, self.contactless],
            4: [self.contactless, self.contact]}
        order = orders[itype]
        candidates = [t for t in order if t is not None]
        if not candidates:
            raise E.NotSupported("this terminal has no contactless interface (iType 2)")
        for term in candidates[:-1]:
            if _card_present(term):
                return term
        return candidates[-1]

    def _run(self, itype: int, flow: Callable[[Terminal], str]) -> Result:
        """Abandon a pending HSM flow, run ``flow`` on the iType's terminal, power down, map errors."""
        self._abandon_hsm()
        term: Terminal | None = None
        try:
            term = self._terminal(itype)
            return E.OK, flow(term)
        except (E.SSCardError, ValueError) as exc:
            return failure(exc)
        finally:
            if term is not None:
                with contextlib.suppress(E.SSCardError):
                    term.close()

    def _abandon_hsm(self) -> None:
        if self._hsm is not None:
            pending, self._hsm = self._hsm, None
            pending.close()

    def close(self) -> None:
        """Abandon any HSM flow and release the readers."""
        self._abandon_hsm()
        for term in (self.contact, self.contactless):
            if term is not None:
                with contextlib.suppress(E.SSCardError):
                    term.close()

    # --- iReadCardBas ---------------------------------------------------------------------------------------
    def iReadCardBas(self, iType: int) -> Result:
        """Basic information (docs/sources.md §5.3, §6.2): authenticate the card through the PSAM, on 3.0 cards the
        terminal too (RKSSSE), read EF05/EF06 and the PSAM's terminal number."""
        def flow(term: Terminal) -> str:
            with term.session():
                card = term.card
                card.select_df("SSSE")
                authenticate_card(term)
                v05 = read_items(card, "SSSEEF05")
                key = ef06_read_key(card)
                if key is not None:
                    authenticate_terminal(term, key)
                v06 = read_items(card, "SSSEEF06")
                terminal_no = term.need_psam().terminal_number()
                return basic_info_output(card, v05, v06, terminal_no, self.device_number)
        return self._run(iType, flow)

    # --- iReadCard / iWriteCard -----------------------------------------------------------------------------
    def iReadCard(self, iType: int, iAuthType: int, pCardInfo: str, pFileAddr: str) -> Result:
        """Items of any files (docs/sources.md §6.2). ``iAuthType`` 1: the holder's PIN is verified first; 2: the card
        is authenticated through the PSAM first (RK key authentication). Either way each file's read
        condition is then met as the profile says (external authentication through the PSAM, PIN)."""
        def flow(term: Terminal) -> str:
            if iAuthType not in (1, 2):
                raise E.BadParameter(f"iAuthType must be 1 (PIN) or 2 (key), got {iAuthType!r}")
            refs = parse_file_addr(pFileAddr)
            info = parse_card_info(pCardInfo)
            with term.session():
                card = term.card
                card.select_df("SSSE")
                check_card_info(card, info)
                access = Access(term, self._holder())
                if iAuthType == 2:
                    authenticate_card(term)
                else:
                    access.verify_pin()
                values = [read_ref(term, access, ref) for ref in refs]
            return format_file_values(refs, values)
        return self._run(iType, flow)

    def iWriteCard(self, iType: int, pCardInfo: str, pFileAddr: str, pWriteData: str) -> Result:
        """Update record items (docs/sources.md §6.2): every value is checked before the first write; each item is then
        written through the PSAM as its file's update condition says (external authentication or MAC)."""
        def flow(term: Terminal) -> str:
            refs = parse_file_addr(pFileAddr)
            values = parse_write_data(pWriteData, refs)
            info = parse_card_info(pCardInfo)
            plan: list[tuple[str, Item, str]] = []
            with term.session():
                card = term.card
                card.select_df("SSSE")
                check_card_info(card, info)
                for ref, (_, _, items), vals in zip(refs, check_write_refs(card, refs), values):
                    for item, value in zip(items, vals):
                        check_value(item, value, rule=False)     # characters and lengths first (-41, -42) …
                        plan.append((ref.path, item, value))
                for _, item, value in plan:
                    check_value(item, value)                     # … then what each value means (-23)
            term.close()
            term.write_items([(path, item.name, value) for path, item, value in plan])
            return ""
        return self._run(iType, flow)

    def iWriteCardBasExt(self, iType: int, pCardInfo: str, pWriteData: str) -> Result:
        """Vendor extra: personalise the basic data (EF05/EF06) through the PSAM in one call: pWriteData =
        ``卡识别码|初始化机构编号|发卡日期|卡有效期|卡号|社会保障号码|姓名|姓名扩展|性别|民族|出生日期|``
        (formats.BASIC_WRITE_FIELDS). The card identification code is not written: it must be empty or this
        card's (-22). An empty field leaves its item as it is, except 姓名扩展, which is written (cleared when
        empty) whenever 姓名 is. Every value is checked before the first write; the items are then written after
        one external authentication with the update key (04)."""
        def flow(term: Terminal) -> str:
            info = parse_card_info(pCardInfo)
            with term.session():
                card = term.card
                card.select_df("SSSE")
                check_card_info(card, info)
                plan = basic_write_plan(card, pWriteData, read_card_id(card))
            term.close()
            if plan:
                term.need_psam()
                term.write_items([(path, item.name, value) for path, item, value in plan])
            return ""
        return self._run(iType, flow)

    def iWriteCardBas(self, iType: int) -> Result:
        """The first step of a personalisation through the HSM (S7, docs/sources.md §6.1): ``algId|R|D|0094|``, the
        card's challenge R and the terminal's D the HSM computes the external authentication with (key address
        0094, the update key 04); iWriteCardBas_HSM_Step1 takes its answer and the data."""
        return self._hsm_start(iType, hsm_steps.write_bas_step1)

    def iWriteCardBas_HSM_Step1(self, pKey: str, pWriteInfo: str) -> Result:
        """With pKey = the HSM's external-authentication cryptogram C (or C ‖ D) and pWriteInfo =
        ``卡识别码|初始化机构编码|发卡日期|卡有效期|卡号|社会保障号码|姓名|姓名拓展|性别|民族|出生日期|``: checks every
        value, authenticates (a wrong answer is the card's 63Cx and nothing is written), writes EF05/EF06."""
        return self._hsm_step("writebas", 2, lambda p: hsm_steps.write_bas_step2(p, pKey, pWriteInfo))

    # --- PIN ------------------------------------------------------------------------------------------------
    def iVerifyPIN(self, iType: int) -> Result:
        """VERIFY the holder's PIN, typed on the reader's PIN pad or asked from PinEntry: -51 with the tries
        left, -52 blocked, -31 cancelled, -32 timeout."""
        def flow(term: Terminal) -> str:
            with term.session():
                card = term.card
                card.select_df("SSSE")
                refuse_blocked(card)
                self._holder().verify(card, term.pin_pad())
            return ""
        return self._run(iType, flow)

    def iChangePIN(self, iType: int) -> Result:
        """The current PIN and the new one twice, on the reader's PIN pad or from PinEntry: -34 the entries
        differ, -36 the new one is the initial PIN (checked only without a pad: the host never sees a pad's PIN)."""
        def flow(term: Terminal) -> str:
            with term.session():
                card = term.card
                card.select_df("SSSE")
                refuse_blocked(card)
                pad = term.pin_pad()
                if pad is not None:
                    self._holder().change_on_pad(card, pad)
                    return ""
                old = ask_pin(self.pin_entry, PinPrompt.CURRENT)
                new = self._new_pin()
                if new == card.profile.default_pin:
                    raise E.InitialPinRefused("the new PIN may not be the initial PIN")
                card.change_pin(old, new)
            return ""
        return self._run(iType, flow)

    def _new_pin(self) -> str:
        new = ask_pin(self.pin_entry, PinPrompt.NEW)
        if ask_pin(self.pin_entry, PinPrompt.CONFIRM) != new:
            raise E.PinMismatch("the two entries of the new PIN differ")
        return new

    def iReloadPIN(self, iType: int, pCardInfo: str) -> Result:
        """PIN RELOAD through the PSAM (docs/sources.md §5.3, docs/design.md §3): the holder enters the new PIN twice,
        always through PinEntry (the PSAM enciphers it; a PIN pad cannot, ``host.standard.pinpad``)."""
        def flow(term: Terminal) -> str:
            info = parse_card_info(pCardInfo)
            self._check_card(term, info)
            term.need_psam()
            term.reload_pin(self._new_pin())
            return ""
        return self._run(iType, flow)

    def iUnblockPIN(self, iType: int, pCardInfo: str) -> Result:
        """PIN UNBLOCK through the PSAM: external authentication with key 06, then ``84 24 00 00`` with a MAC;
        no PIN is entered, the try counter is reset."""
        def flow(term: Terminal) -> str:
            info = parse_card_info(pCardInfo)
            self._check_card(term, info)
            term.need_psam()
            term.unblock_pin()
            return ""
        return self._run(iType, flow)

    # --- the medical purse (docs/design.md §3.3) --------------------------------------------------------------
    def _purse_pin(self, term: Terminal) -> str | None:
        """The holder's PIN for the purse from PinEntry, or None when the holder types it on the reader's pad."""
        if term.pin_pad() is not None:
            if self.pin_pad_notice is not None:
                self.pin_pad_notice(PinPrompt.CURRENT)
            return None
        return ask_pin(self.pin_entry, PinPrompt.CURRENT)

    def iDoDebit(self, iType: int, pCardInfo: str, pPayInfo: str) -> Result:
        """A purchase from the medical purse through the PSAM (docs/sources.md §6.1; formats: §6.2, the project's
        choice): pCardInfo ``卡识别码|卡号|`` (empty fields not checked), pPayInfo ``amount|bill total|
        YYYYMMDDhhmmss|`` in yuan; the holder's PIN from the pad or PinEntry. pOutInfo: ``balance before|amount|
        balance after|card transaction number|terminal number|terminal transaction number|YYYYMMDDhhmmss|TAC|``
        (yuan with two decimals, the numbers in hex). -37889 (−0x9401) insufficient balance, −0x9302 MAC."""
        def flow(term: Terminal) -> str:
            info = parse_card_info(pCardInfo)
            pay = parse_pay_info(pPayInfo)
            term.need_psam()
            self._check_card(term, info)
            r = term.debit(pay.amount, self._purse_pin(term), when=pay.when, timeout=self.pin_timeout)
            return join_fields([P.format_yuan(r.balance_before), P.format_yuan(r.amount), P.format_yuan(r.balance),
                                f"{r.offline_counter:04X}", r.terminal_number, f"{r.terminal_txn:08X}", r.when,
                                r.tac])
        return self._run(iType, flow)

    def iReadDebitRecord(self, iType: int) -> Result:
        """The purse's transaction log (DF04 EF08), newest first, after the holder's PIN (docs/sources.md §6.1;
        the format is the project's choice): one ``card transaction number|amount|type|terminal number|
        YYYYMMDDhhmmss|$`` per record, nothing when the log is empty."""
        def flow(term: Terminal) -> str:
            log = term.purse_log(self._purse_pin(term), timeout=self.pin_timeout)
            return "".join(join_fields([f"{r.offline_counter:04X}", P.format_yuan(r.amount), f"{r.txn_type:02X}",
                                        r.terminal_number, r.timestamp]) + "$" for r in log)
        return self._run(iType, flow)

    def _check_card(self, term: Terminal, info: CardInfo) -> None:
        with term.session():
            term.card.select_df("SSSE")
            check_card_info(term.card, info)
        term.close()

    # --- HSM flows (docs/sources.md §5.4) -----------------------------------------------------------------------------
    def iReadCardBas_HSM_Step1(self, iType: int) -> Result:
        """Step 1: ``region|ATR|algId|cardID|IA factor|IA source|EA factor|EA source|terminal no|``."""
        return self._hsm_start(iType, lambda term: hsm_steps.read_bas_step1(term))

    def iReadCardBas_HSM_Step2(self, pKey: str) -> Result:
        """Step 2 with pKey = ``IA result|EA data|`` from the HSM: -25 if the card disagrees; iReadCardBas output."""
        return self._hsm_step("readbas", 2, lambda p: hsm_steps.read_bas_step2(p, pKey, self.device_number))

    def iReloadPIN_HSM_Step1(self, iType: int, pCardInfo: str) -> Result:
        """Step 1: ``algId|0090|EA factor|EA source|`` (EA fields empty on 2.0 cards)."""
        return self._hsm_start(iType, lambda term: hsm_steps.reload_step1(term, parse_card_info(pCardInfo)))

    def iReloadPIN_HSM_Step2(self, pKey: str) -> Result:
        """Step 2 with pKey = EA data: authenticates, asks the new PIN twice; ``algId|0173|challenge|header|PIN|``."""
        return self._hsm_step("reload", 2, lambda p: hsm_steps.reload_step2(p, pKey, self._new_pin))

    def iReloadPIN_HSM_Step3(self, pKey: str) -> Result:
        """Step 3 with pKey = the PIN RELOAD command from the HSM (whole APDU, or ciphertext‖MAC)."""
        return self._hsm_step("reload", 3, lambda p: hsm_steps.reload_step3(p, pKey))

    def iUnblockPIN_HSM_Step1(self, iType: int, pCardInfo: str) -> Result:
        """Step 1: ``algId|0090|EA factor|EA data|`` for the PIN-management key (06), as iReloadPIN_HSM_Step1."""
        return self._hsm_start(iType, lambda term: hsm_steps.unblock_step1(term, parse_card_info(pCardInfo)))

    def iUnblockPIN_HSM_Step2(self, pKey: str) -> Result:
        """Step 2 with pKey = EA data: authenticates, takes a challenge; ``algId|0173|challenge|8424000004|``."""
        return self._hsm_step("unblock", 2, lambda p: hsm_steps.unblock_step2(p, pKey))

    def iUnblockPIN_HSM_Step3(self, pKey: str) -> Result:
        """Step 3 with pKey = the PIN UNBLOCK command from the HSM (whole APDU, or the MAC): resets the counter."""
        return self._hsm_step("unblock", 3, lambda p: hsm_steps.unblock_step3(p, pKey))

    def iReadCard_HSM_Step1(self, iType: int, pCardInfo: str, pFileAddr: str) -> Result:
        """Step 1: ``region|ATR|algId|cardID|IA factor|IA data|key address|EA factor|EA data|`` (the EA fields
        empty when the files need no key)."""
        return self._hsm_start(iType, lambda term: hsm_steps.read_card_step1(
            term, parse_card_info(pCardInfo), parse_file_addr(pFileAddr)))

    def iReadCard_HSM_Step2(self, pKey: str) -> Result:
        """Step 2 with pKey = ``IA result|EA data|`` from the HSM: -25 if the card disagrees; iReadCard's output."""
        return self._hsm_step("readcard", 2, lambda p: hsm_steps.read_card_step2(p, pKey, self._holder()))

    def iWriteCard_HSM_Step1(self, iType: int, pCardInfo: str, pFileAddr: str) -> Result:
        """Step 1: ``region|ATR|algId|cardID|key address|EA factor|EA data|`` for the key the files' update needs."""
        return self._hsm_start(iType, lambda term: hsm_steps.write_card_step1(
            term, parse_card_info(pCardInfo), parse_file_addr(pFileAddr)))

    def iWriteCard_HSM_Step2(self, pKey: str, pWriteData: str) -> Result:
        """Step 2 with pKey = EA data from the HSM and pWriteData shaped as Step 1's pFileAddr: writes."""
        return self._hsm_step("writecard", 2,
                              lambda p: hsm_steps.write_card_step2(p, pKey, pWriteData, self._holder()))

    def iDoDebit_HSM_Step1(self, iType: int, pCardInfo: str, pPayInfo: str) -> Result:
        """A purse debit whose MAC1 the HSM computes (no PSAM, or one without the purchase key). pPayInfo is
        iDoDebit's, optionally with the terminal number (12 digits) as a fourth field (needed without a PSAM);
        the PIN as iDoDebit asks it. Step 1: ``algId|key address|card random|offline counter|amount|type|terminal
        number|YYYYMMDDhhmmss|key version|purse algId|region|ATR hist|cardID|``."""
        def step1(term: Terminal) -> hsm_steps.Pending:
            info = parse_card_info(pCardInfo)
            pay, terminal_no = parse_hsm_pay_info(pPayInfo)
            return hsm_steps.debit_step1(term, info, pay, terminal_no, self._purse_pin, self.pin_timeout)
        return self._hsm_start(iType, step1)

    def iDoDebit_HSM_Step2(self, pKey: str) -> Result:
        """Step 2 with pKey = ``terminal transaction number|YYYYMMDDhhmmss|MAC1|`` from the HSM: DEBIT FOR
        PURCHASE; iDoDebit's output followed by MAC2 (``…|TAC|MAC2|``) for the HSM to check. A wrong MAC1 is
        −0x9302, counted by the card, nothing debited."""
        return self._hsm_step("debit", 2, lambda p: hsm_steps.debit_step2(p, pKey))

    def _hsm_start(self, itype: int, step1: Callable[[Terminal], hsm_steps.Pending]) -> Result:
        self._abandon_hsm()
        try:
            term = self._terminal(itype)
        except E.SSCardError as exc:
            return failure(exc)
        try:
            pending = step1(term)
        except (E.SSCardError, ValueError) as exc:
            with contextlib.suppress(E.SSCardError):
                term.close()
            return failure(exc)
        self._hsm = pending
        return E.OK, pending.output

    def _hsm_step(self, kind: str, step: int, run: Callable[[hsm_steps.Pending], str]) -> Result:
        pending = self._hsm
        if pending is None or pending.kind != kind or pending.next_step != step:
            self._abandon_hsm()
            return failure(E.IllegalInput(f"{kind} HSM step {step} called without the steps before it"))
        try:
            out = run(pending)
        except (E.SSCardError, ValueError) as exc:
            self._abandon_hsm()
            return failure(exc)
        if pending.done:
            self._abandon_hsm()
        return E.OK, out

    # --- vendor extras --------------------------------------------------------------------------------------
    def iReadPhoto(self, iType: int) -> Result:
        """Vendor extra: the holder's photo (SSSE EF08) as base64 JPEG, ``<base64>|`` (needs RKSSSE via the PSAM);
        an empty field, ``|``, when the card holds no photo."""
        def flow(term: Terminal) -> str:
            return join_fields([base64.b64encode(term.read_photo()).decode("ascii")])
        return self._run(iType, flow)

    def iReadBankCardNo(self, iType: int) -> Result:
        """Vendor extra (the national interface has no bank function; a reader SDK names it so): the co-branded card's
        bank card number from its UnionPay application, ``PAN|expiry YYYYMMDD|PAN sequence|AID|label|`` with the
        whole PAN (``host.bank``; no PSAM needed). iType 2, and 4 on a contactless terminal, look for the PPSE
        first. A card without the application gives -1 (wrong card type)."""
        def flow(term: Terminal) -> str:
            info = term.read_bank_card(contactless=term is self.contactless)
            return join_fields([info.pan, info.expiry_date, info.pan_sequence, info.aid, info.label])
        return self._run(iType, flow)

    # --- the PKI application of gen3 cards (docs/design.md §3.4) ------------------------------------------------
    def PKI_SignData(self, pUserPin: str, pInData: str, iType: int) -> Result:
        """LD/T 6001.5 §7 "签名": sign pInData (its GBK bytes) with the card's signing key (SM2 with SM3, Z of the
        card's key and the default ID) after the PKI application's user PIN, pUserPin, or when it is empty the PIN
        asked from PinEntry (the PKI VERIFY block is made on the host: a reader's PIN pad is not used).
        ``<signature>|``: base64 of the DER ``SEQUENCE { r, s }`` (GM/T 0009-2012 §7.3; the format is sscard's
        choice, the sources give none). -51 wrong PIN (with the tries left), -52 blocked, -33/-41 a PIN that
        breaks the rule, -1 a card without the PKI application."""
        def flow(term: Terminal) -> str:
            try:
                data = pInData.encode("gbk")
            except UnicodeEncodeError as exc:
                raise E.IllegalCharacters(f"pInData holds a character GBK cannot encode (position {exc.start})") \
                    from None
            given = pUserPin
            pin = ask_pin((lambda _prompt: given) if given else self.pin_entry, PinPrompt.CURRENT)
            signature = term.pki_sign(data, pin)
            return join_fields([base64.b64encode(signature.der).decode("ascii")])
        return self._run(iType, flow)

    def PKI_VerifySign(self, pUserPin: str, pCert: str, pClearText: str, pSignature: str, iType: int) -> Result:
        """LD/T 6001.5 §7 "验证签名": whether pSignature signs pClearText (its GBK bytes) under pCert's public key (SM2
        with SM3, Z of that key and the default ID). pSignature as PKI_SignData outputs it, base64 of the DER
        ``SEQUENCE { r, s }``, with or without its trailing ``|``; pCert the certificate as base64 DER (PKI_GetCert's
        first field, or its whole output), or empty for the card's own signing certificate, read from the card
        through iType. pUserPin is accepted and unused: the sources give it no role, and reading the certificate
        and verifying need no PIN. With pCert given no card is used (iType is still checked, -14).
        ``1|`` when the signature verifies; -22 with ``0|`` when it does not (-22 "input data does not match" is
        sscard's choice among the interface's codes). -23 pCert or pSignature not base64 or not the DER
        expected, -41 pClearText not GBK, -1 a card without the PKI application, -0x6A82 one without a certificate
        (when pCert is empty)."""
        def flow(term: Terminal | None) -> str:
            try:
                data = pClearText.encode("gbk")
            except UnicodeEncodeError as exc:
                raise E.IllegalCharacters(f"pClearText holds a character GBK cannot encode (position {exc.start})") \
                    from None
            text = pSignature[:-1] if pSignature.endswith("|") else pSignature
            signature = _der_field("pSignature", text, sm2.signature_raw, "not a DER SM2 signature")
            if term is None:
                cert = _der_field("pCert", pCert.split("|", 1)[0], x509.parse, "not an SM2 certificate")
            else:
                der = term.read_pki_certificate()
                if not der:
                    raise E.CardError(0x6A82, "the card holds no signing certificate (file 0018)")
                try:
                    cert = x509.parse(der)
                except (MalformedFrame, ValueError) as exc:
                    raise E.CardError(0x6F00, f"file 0018: not an SM2 certificate ({exc})") from None
            ok = verify_quietly(lambda: sm2.verify(cert.public_key, data, signature))
            return join_fields(["1" if ok else "0"])

        if pCert:
            self._abandon_hsm()
            try:
                if iType not in (1, 2, 3, 4):
                    raise E.BadParameter(f"iType must be 1 (contact), 2 (contactless), 3 or 4 (auto), got {iType!r}")
                out = flow(None)
            except (E.SSCardError, ValueError) as exc:
                return failure(exc)
        else:
            code, out = self._run(iType, flow)
            if code != E.OK:
                return code, out
        return (E.OK, out) if out == "1|" else (E.DATA_MISMATCH, out)

    def PKI_GetCert(self, iType: int) -> Result:
        """Vendor extra (LD/T 6001.5 names no function that reads the certificate): the card's signing certificate
        (file 0018), ``<base64 DER>|<subject>|<issuer>|<serial, hex>|<not before>|<not after>|`` with the times as
        YYYYMMDDHHMMSS UTC and the names as ``C=CN, ST=…, CN=…``; ``|`` when the card holds none; -1 a card
        without the PKI application."""
        def flow(term: Terminal) -> str:
            der = term.read_pki_certificate()
            if not der:
                return join_fields([""])
            try:
                cert = x509.parse(der)
            except MalformedFrame as exc:
                raise E.CardError(0x6F00, f"file 0018: not an SM2 certificate ({exc})") from None
            return join_fields([base64.b64encode(der).decode("ascii"), x509.name_text(cert.subject),
                                x509.name_text(cert.issuer), f"{cert.serial:X}",
                                cert.not_before.strftime("%Y%m%d%H%M%S"), cert.not_after.strftime("%Y%m%d%H%M%S")])
        return self._run(iType, flow)

    def iGetReaderInfo(self) -> Result:
        """Vendor extra: ``device number|PSAM terminal number|`` (docs/sources.md §6.1 iGetReaderInfo)."""
        def flow(term: Terminal) -> str:
            psam = term.need_psam()
            psam.engine.connect()
            return join_fields([self.device_number, psam.terminal_number()])
        return self._run(1, flow)


def _der_field(name: str, text: str, read: Callable[[bytes], _T], what: str) -> _T:
    """``read`` of the base64 DER in ``text``; -23 (IllegalInput) when it is not base64 or ``read`` refuses it."""
    try:
        der = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise E.IllegalInput(f"{name} is not base64") from None
    if not der:
        raise E.IllegalInput(f"{name} is empty")
    try:
        return read(der)
    except (MalformedFrame, ValueError) as exc:
        raise E.IllegalInput(f"{name}: {what} ({exc})") from None


def _card_present(term: Terminal) -> bool:
    try:
        term.card_reader.connect()
    except E.NoCard:
        return False
    finally:
        with contextlib.suppress(E.SSCardError):
            term.card_reader.disconnect()
    return True


def failure(exc: BaseException) -> Result:
    """(code, pOutInfo) for an error: ``message|``, or ``tries|message|`` for a wrong PIN (docs/sources.md §6.3)."""
    code = E.error_code(exc)
    message = str(exc).replace("|", "/") or type(exc).__name__
    if isinstance(exc, E.WrongPin):
        return code, f"{exc.tries_left}|{message}|"
    return code, f"{message}|"
