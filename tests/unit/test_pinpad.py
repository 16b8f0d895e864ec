"""PIN pads without I/O: the part 10 structures, their CCID layout, the insertion rule, key entry, the pad inside
the simulated reader (protocols/pinpad.py, protocols/ccid.py, firmware_sim/pinpad.py, firmware_sim/ccid_reader.py;
docs/serial.md §5)."""
from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from firmware_sim.card_os import CardOS
from firmware_sim.ccid_reader import GEMCORE_SIM_PRO, GEMPC_PINPAD, CcidSerialFirmware
from firmware_sim.demo import demo_card
from firmware_sim.iso7816_card import Iso7816Card
from firmware_sim.pinpad import PinSession
from protocols import ccid, gemcore, pinpad as P

H = bytes.fromhex


# --- structures ---------------------------------------------------------------------------------------------------
def test_verify_structure_for_this_card():
    # PC/SC part 10 PIN_VERIFY_STRUCTURE: little-endian wPINMaxExtraDigit (max, min), wLangId, ulDataLength.
    # The same bytes show in pcscd's log ("Control TxBuffer") when the pcsc path sends them through libccid.
    req = P.verify_request(4, 12, 30)
    assert req.to_part10() == H("1E 00 81 00 00 0C 04 02 01 04 08 00 00 00 00 05 00 00 00 00 20 00 00 00")
    assert P.PinVerify.from_part10(req.to_part10()) == req


def test_modify_structure_for_this_card():
    req = P.change_request(6, 6, 20)
    raw = req.to_part10()
    assert raw == H("14 00 81 00 00 00 01 06 06 03 02 03 04 08 00 01 02 00 00 00 06 00 00 00 80 5E 01 00 01 FF")
    assert P.PinModify.from_part10(raw) == req
    assert req.prompts == ("current", "new", "confirm")


def test_ccid_layout_drops_timeout2_and_the_length():
    # CCID rev 1.1 §6.1.11: bPINOperation, then the structure without bTimeOut2 and ulDataLength (as libccid's
    # SecurePINVerify copies it)
    req = P.verify_request(6, 6, 30)
    assert ccid.secure_data(req) == H("00 1E 81 00 00 06 06 02 01 04 08 00 00 00 00") + H("00 20 00 00 00")
    assert ccid.parse_secure(ccid.secure_data(req)) == req


@pytest.mark.parametrize("messages, all_indexes, count", [(0, False, 1), (1, False, 2), (2, False, 2), (3, False, 3),
                                                          (0, True, 3), (1, True, 3)])
def test_ccid_modify_message_indexes(messages, all_indexes, count):
    req = P.PinModify(H("805E0100 01FF"), messages=messages, msg_indexes=(0, 1, 2))
    data = ccid.secure_data(req, all_msg_indexes=all_indexes)
    assert len(data) == 14 + count + 3 + 6         # bPINOperation … wLangId, bMsgIndex…, bTeoPrologue, APDU
    back = ccid.parse_secure(data, all_msg_indexes=all_indexes)
    assert back.template == req.template and back.messages == messages
    assert back.msg_indexes[:count] == (0, 1, 2)[:count]


def test_secure_message_round_trip():
    msg = ccid.Secure(0, 7, ccid.secure_data(P.verify_request()))
    assert ccid.decode(msg.encode()) == msg and msg.pin_operation == 0
    assert ccid.REPLY_TYPE[0x69] == 0x80


@pytest.mark.parametrize("data", [b"", H("02"), H("00 1E 81"), H("01 1E 81 00 00 00 01 06"), H("00 1E 83" + "00" * 17)])
def test_bad_secure_data(data):
    with pytest.raises(P.PinPadError):
        ccid.parse_secure(data)


def test_part10_length_must_match():
    raw = P.verify_request().to_part10()
    with pytest.raises(P.PinPadError, match="ulDataLength"):
        P.PinVerify.from_part10(raw + b"\x00")


def test_features_tlv():
    # what libccid answers GET_FEATURE_REQUEST for a GemPC PinPad (seen in pcscd's log)
    data = H("06 04 42 33 00 06 07 04 42 33 00 07 0A 04 42 33 00 0A 12 04 42 33 00 12")
    found = P.parse_features(data)
    assert found == {P.FEATURE_VERIFY_PIN_DIRECT: 0x42330006, P.FEATURE_MODIFY_PIN_DIRECT: 0x42330007,
                     P.FEATURE_IFD_PIN_PROPERTIES: 0x4233000A, P.FEATURE_GET_TLV_PROPERTIES: 0x42330012}
    assert P.encode_features(found) == data
    assert P.parse_features(b"") == {}
    with pytest.raises(P.PinPadError.__mro__[1]):   # MalformedFrame
        P.parse_features(H("06 02 42 33"))


# --- the insertion rule -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("pin, apdu", [("123456", "00200000 03 123456"), ("12345", "00200000 03 12345F"),
                                       ("1234", "00200000 02 1234"), ("123456789012", "00200000 06 123456789012")])
def test_this_card_verify(pin, apdu):
    assert P.verify_apdu(P.verify_request(), pin) == H(apdu)


def test_this_card_change():
    # 80 5E 01 00 Lc old ‖ FF ‖ new (docs/design.md §3 PIN)
    assert P.modify_apdu(P.change_request(), "123456", "65432") == H("805E0100 07 123456 FF 65432F")


def test_fixed_ascii_blocks_as_scardcontrol_builds_them():
    # LudovicRousseau/CCID examples/scardcontrol.c: bmFormatString 82 (bytes, ASCII), an 8-byte block of '0' and
    # 00 in a VERIFY; two 4-byte blocks at offsets 0 and 4 in a CHANGE REFERENCE DATA
    fmt = P.PinFormat.from_bytes(0x82, 0x08, 0x00)
    verify = P.PinVerify(H("00 20 00 00 08 30 30 30 30 00 00 00 00"), fmt, 4, 8)
    assert P.verify_apdu(verify, "1234") == H("00 20 00 00 08 31 32 33 34 00 00 00 00")
    modify = P.PinModify(H("00 24 00 00 08 30 30 30 30 30 30 30 30"), P.PinFormat.from_bytes(0x82, 0x04, 0x00), 4, 4,
                         offset_old=0, offset_new=4)
    assert P.modify_apdu(modify, "1234", "5678") == H("00 24 00 00 08 31 32 33 34 35 36 37 38")


def test_right_justified_bcd_block():
    fmt = P.PinFormat(P.Encoding.BCD, 0, block_size=4, right_justify=True)
    assert P.verify_apdu(P.PinVerify(H("00 20 00 00 04 FF FF FF FF"), fmt), "12345") == H("00 20 00 00 04 FF F1 23 45")


def test_iso9564_format2_block_with_length():
    # a "GLP" block: control nibble 2, the PIN length in the next nibble (bit 4), the PIN from byte 1, F-filled
    fmt = P.PinFormat(P.Encoding.BCD, 1, block_size=7, length_bits=4, length_position=4)
    req = P.PinVerify(H("00 20 00 80 08 20 FF FF FF FF FF FF FF"), fmt)
    assert P.verify_apdu(req, "1234") == H("00 20 00 80 08 24 12 34 FF FF FF FF FF")
    assert req.fmt.format_string == 0x89 and req.fmt.block_string == 0x47 and req.fmt.length_format == 0x04


def test_case1_template_gets_lc():
    assert P.verify_apdu(P.PinVerify(H("00 20 00 01"), P.PinFormat(P.Encoding.ASCII)), "1234") == \
        H("00 20 00 01 04 31 32 33 34")


@pytest.mark.parametrize("template, fmt, pin", [
    (H("00 20 00 00 02 FF FF"), P.PinFormat(P.Encoding.BCD, 0, block_size=2), "12345"),      # longer than its block
    (H("00 20 00 00 01 FF"), P.PinFormat(P.Encoding.BCD, 0, block_size=2), "1234"),           # block not in template
    (H("00 20 00 00 05 FF"), P.CARD_FORMAT, "1234"),                                           # Lc past the data
    (H("00 20 00 00 00"), P.PinFormat(P.Encoding.BCD, 3, units_bytes=False), "1234"),        # not at a byte
    (H("00 20 00 00 00"), P.CARD_FORMAT, "12a4"),
])
def test_insertion_refuses(template, fmt, pin):
    with pytest.raises(P.PinPadError):
        P.verify_apdu(P.PinVerify(template, fmt), pin)


@given(st.text("0123456789", min_size=4, max_size=12), st.text("0123456789", min_size=4, max_size=12))
def test_card_templates_give_what_the_host_would_send(old, new):
    from protocols.crypto import pin_to_bcd
    bcd = pin_to_bcd(old)
    assert P.verify_apdu(P.verify_request(), old) == H("00200000") + bytes([len(bcd)]) + bcd
    data = bcd + b"\xFF" + pin_to_bcd(new)
    assert P.modify_apdu(P.change_request(), old, new) == H("805E0100") + bytes([len(data)]) + data


# --- keys ---------------------------------------------------------------------------------------------------------
def test_key_scripts():
    assert P.parse_keys("12 wait:1.5 BS, 3 ok # a comment\nCANCEL esc 确认 <") == \
        ["1", "2", P.Wait(1.5), P.BACKSPACE, "3", P.ENTER, P.CANCEL, P.CANCEL, P.ENTER, P.BACKSPACE]
    with pytest.raises(ValueError, match="unknown key"):
        P.parse_keys("12 F1")


def test_digit_entry():
    e = P.DigitEntry(4, 6)
    for k in "1234567":
        assert e.press(k) is None
    assert e.digits == list("123456")                       # the 7th digit is ignored
    assert e.press(P.BACKSPACE) is None and e.press(P.CLEAR) is None and e.digits == []
    assert e.press("9") is None and e.press(P.ENTER) == "length"
    e = P.DigitEntry(4, 4, P.VALIDATE_MAX_DIGITS)
    assert [e.press(k) for k in "1234"] == [None, None, None, "done"] and e.take() == "1234" and e.digits == []
    assert P.DigitEntry(4, 6).time_out() == "timeout"
    e = P.DigitEntry(1, 6, P.VALIDATE_TIMEOUT)
    e.press("1")
    assert e.time_out() == "done"


def test_session_outcomes():
    s = PinSession(P.verify_request(6, 6, 5))
    assert (s.prompt, s.timeout) == ("current", 5.0)
    assert s.press("1") is None and s.digits == 1
    assert s.press(P.CANCEL).error == P.CCID_PIN_CANCELLED and s.prompt is None
    assert PinSession(P.verify_request()).time_out().error == P.CCID_PIN_TIMEOUT
    s = PinSession(P.verify_request(6, 6))
    for k in "123":
        s.press(k)
    assert s.press(P.ENTER).status == P.SW_PIN_LENGTH
    s = PinSession(P.change_request(6, 6))
    for k in "123456":
        s.press(k)
    assert s.press(P.ENTER) is None and s.prompt == "new" and s.prompt_number == 2
    for k in "654321":
        s.press(k)
    s.press(P.ENTER)
    for k in "654322":
        s.press(k)
    assert s.press(P.ENTER).status == P.SW_PIN_MISMATCH
    assert PinSession(P.verify_request(0, 12, 0)).timeout == P.DEFAULT_TIMEOUT


def test_session_refuses_a_template_that_cannot_take_the_pin():
    with pytest.raises(P.PinPadError):
        PinSession(P.PinVerify(H("00 20 00 00 02 FF FF"), P.PinFormat(P.Encoding.BCD, 0, block_size=2), 4, 8))


# --- the GemPC PinPad firmware ------------------------------------------------------------------------------------
SELECT_SSSE = H("00A404000F7378312E73682EC9E7BBE1B1A3D5CF")


class Pad:
    def __init__(self, model=GEMPC_PINPAD):
        self.card = CardOS(demo_card())
        self.fw = CcidSerialFirmware([Iso7816Card(self.card)], model)
        self.decoder = gemcore.Decoder(from_reader=True)
        self.seq = 0

    def replies(self, out: bytes) -> list[ccid.Message]:
        return [ccid.decode(e.message) for e in self.decoder.feed(out) if isinstance(e, gemcore.Frame)]

    def send(self, msg: ccid.Message) -> list[ccid.Message]:
        return self.replies(self.fw.receive(gemcore.encode(msg.encode())))

    def start(self) -> None:
        self.send(ccid.IccPowerOn(0, 1))
        self.send(ccid.XfrBlock(0, 2, SELECT_SSSE))

    def type(self, keys: str) -> list[ccid.Message]:
        out = b""
        for k in P.parse_keys(keys):
            out += self.fw.press(k)
        return self.replies(out)


def test_pad_verifies_with_the_keys():
    pad = Pad()
    pad.start()
    sent = ccid.Secure(0, 3, ccid.secure_data(P.verify_request(6, 6, 5)))
    assert pad.send(sent) == [sent]                         # only the echo: the holder is typing
    assert pad.fw.pin_session.prompt == "current" and pad.fw.pin_timeout == 5.0
    busy = pad.send(ccid.GetSlotStatus(0, 4))
    assert busy[-1].error == ccid.ERR_CMD_SLOT_BUSY
    assert pad.send(sent) == [sent]                         # a repeated frame: still typing
    reply = pad.type("1234 BS 556 OK")[-1]                  # 123556: the wrong PIN
    assert isinstance(reply, ccid.DataBlock) and reply.seq == 3 and reply.data == H("63C2")
    assert pad.card.image.pin_tries_left == 2


def test_pad_right_pin_cancel_and_timeout():
    pad = Pad()
    pad.start()
    data = ccid.secure_data(P.verify_request(6, 6, 5))
    pad.send(ccid.Secure(0, 3, data))
    assert pad.type("123456 OK")[-1].data == H("9000")
    pad.send(ccid.Secure(0, 4, data))
    cancelled = pad.type("12 CANCEL")[-1]
    assert cancelled.failed and cancelled.error == P.CCID_PIN_CANCELLED
    pad.send(ccid.Secure(0, 5, data))
    timed_out = pad.replies(pad.fw.pin_time_out())[-1]
    assert timed_out.failed and timed_out.error == P.CCID_PIN_TIMEOUT
    assert pad.fw.press("1") == b"" and pad.card.image.pin_tries_left == 3     # no entry: keys are dropped
    pad.send(ccid.Secure(0, 6, ccid.secure_data(P.change_request(6, 6), all_msg_indexes=True)))
    assert pad.type("123456 OK 246810 OK 246810 OK")[-1].data == H("9000")
    assert pad.card.image.pin == "246810"


def test_readers_without_a_pad_refuse_secure():
    pad = Pad(GEMCORE_SIM_PRO)
    pad.start()
    reply = pad.send(ccid.Secure(0, 3, ccid.secure_data(P.verify_request())))[-1]
    assert reply.failed and reply.error == ccid.ERR_CMD_NOT_SUPPORTED


def test_pad_refuses_what_it_cannot_do():
    pad = Pad()
    pad.start()
    assert pad.send(ccid.Secure(0, 3, H("04")))[-1].error == 10                   # bPINOperation: cancel
    bad = ccid.secure_data(P.PinVerify(H("00 20 00 00 01 FF"), P.PinFormat(P.Encoding.BCD, 0, block_size=2), 4, 4))
    assert pad.send(ccid.Secure(0, 4, bad))[-1].error == 11
    assert pad.fw.pin_session is None


def test_pad_answers_the_escapes_libccid_sends_it():
    pad = Pad()
    strings = ccid.Escape(0, 1, H("B2 A0 00 4D 4C") + b"Enter PIN".ljust(16) * 10)
    got = pad.send(strings)
    # the echo of this long frame would not fit libccid's answer buffer: the answer comes twice instead
    assert len(got) == 2 and all(isinstance(m, ccid.EscapeReply) and not m.failed for m in got)
    got = pad.send(ccid.Escape(0, 2, H("02")))
    assert got[0] == ccid.Escape(0, 2, H("02")) and got[1].data.startswith(b"GemPC PinPad")
