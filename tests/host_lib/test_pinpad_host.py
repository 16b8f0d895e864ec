"""The host with a PIN pad, in process (host/pinpad.py, host/terminal.py, host/standard; docs/serial.md §5): the pad
is used when the reader has one, its outcomes become the interface codes, traces hold no PIN; the keypad's sources
(hardware/keypad.py). The same pad logic runs in the simulated reader (firmware_sim/pinpad.py)."""
from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from firmware_sim.card_os import CardOS
from firmware_sim.pinpad import PinSession
from hardware import keypad as K
from hardware.inprocess import InProcessReader
from host import errors as E
from host.pinpad import check_pad
from host.standard import PinPrompt, ScriptedPins, SSCardDriver
from host.terminal import Terminal
from host.trace import Tracer, TracingReader
from protocols import pinpad as P
from protocols.pin import PIN_DIGITS

from tests.service.conftest import Images


class ScriptPad:
    """A PIN pad in process: the simulated pad's session fed from a key script, the APDU sent to ``reader``."""

    def __init__(self, reader: InProcessReader, keys: str = "") -> None:
        self.reader = reader
        self.name = "script pad"
        self.keys: list[str] = []
        self.requests: list[P.PinRequest] = []
        self.type(keys)

    def type(self, keys: str) -> None:
        self.keys += [k for k in P.parse_keys(keys) if isinstance(k, str)]

    def verify(self, request: P.PinVerify) -> bytes:
        return self._run(request)

    def modify(self, request: P.PinModify) -> bytes:
        return self._run(request)

    def _run(self, request: P.PinRequest) -> bytes:
        self.requests.append(request)
        session = PinSession(request)
        result = None
        while result is None:
            result = session.press(self.keys.pop(0)) if self.keys else session.time_out()
        if result.error is not None:
            return P.CCID_ERROR_STATUS[result.error].to_bytes(2, "big")
        if result.status is not None:
            return result.status.to_bytes(2, "big")
        assert result.apdu is not None
        return self.reader.transmit(result.apdu)


class PadReader(InProcessReader):
    def __init__(self, device: CardOS, keys: str = "") -> None:
        super().__init__(device, "pad reader")
        self.pad = ScriptPad(self, keys)

    def pin_pad(self) -> ScriptPad:
        return self.pad


PadTerminal = tuple[Terminal, ScriptPad, CardOS]   # the terminal, its card reader's pad, the card


@pytest.fixture
def pad_terminal(tmp_path: Path) -> PadTerminal:
    images = Images(tmp_path)
    card = CardOS.from_file(images.card("gen2"))
    psam = images.psam("440100")
    from firmware_sim.psam import PsamOS
    reader = PadReader(card)
    return Terminal(reader, InProcessReader(PsamOS.from_file(psam), "psam")), reader.pad, card


def test_terminal_uses_the_pad_when_no_pin_is_given(pad_terminal: PadTerminal) -> None:
    term, pad, card = pad_terminal
    assert term.pin_pad() is pad
    pad.type("111111 OK")
    with pytest.raises(E.WrongPin) as err:
        term.verify_pin()
    assert err.value.tries_left == 2 and card.image.pin_tries_left == 2
    pad.type("123456 OK")
    term.verify_pin()
    term.verify_pin("123456")                        # a PIN given still goes the old way
    # the pad collects the holder's PIN by the one PIN rule (protocols.pin), as the standard interface does
    assert len(pad.requests) == 2 and pad.requests[0] == P.verify_request(PIN_DIGITS, PIN_DIGITS)
    pad.type("123456 OK 975310 OK 975310 OK")
    term.change_pin()
    assert card.image.pin == "975310"
    with pytest.raises(ValueError, match="both PINs"):
        term.change_pin("975310")


def test_terminal_without_a_pad_refuses_to_guess(tmp_path):
    images = Images(tmp_path)
    term = images.terminal(images.card("gen2"))
    assert term.pin_pad() is None
    with pytest.raises(E.PinEntryUnavailable) as err:
        term.verify_pin()
    assert E.error_code(err.value) == -31


@pytest.mark.parametrize("answer, code", [("9000", 0), ("6400", -32), ("6401", -31), ("6402", -34), ("6403", -33),
                                          ("6B80", -14), ("63C1", -51), ("6983", -52), ("6A82", -0x6A82)])
def test_pad_answers_become_interface_codes(answer, code):
    raw = bytes.fromhex(answer)
    if code == 0:
        assert check_pad(raw) == b""
    else:
        with pytest.raises(E.SSCardError) as err:
            check_pad(raw)
        assert E.error_code(err.value) == code


def test_the_interface_takes_the_pin_on_the_pad(pad_terminal: PadTerminal) -> None:
    term, pad, card = pad_terminal
    notices: list[PinPrompt] = []
    entry = ScriptedPins.of("135790", "135790")        # only PIN RELOAD may ask it
    driver = SSCardDriver(term, pin_entry=entry, pin_pad_notice=notices.append, pin_timeout=9)
    pad.type("123456 OK")
    assert driver.iVerifyPIN(1) == (0, "")
    assert pad.requests[-1].min_digits == pad.requests[-1].max_digits == 6 and pad.requests[-1].timeout == 9
    pad.type("12 CANCEL")
    assert driver.iVerifyPIN(1)[0] == -31
    assert driver.iVerifyPIN(1)[0] == -32             # no key at all
    pad.type("1234 OK")
    assert driver.iVerifyPIN(1)[0] == -33
    pad.type("123456 OK")
    assert driver.iReadCard(1, 1, "", "SSSEEF05|07|$")[0] == 0      # iAuthType 1: PIN first, on the pad
    pad.type("123456 OK 111111 OK 111112 OK")
    assert driver.iChangePIN(1)[0] == -34
    pad.type("123456 OK 123456 OK 123456 OK")
    assert driver.iChangePIN(1) == (0, "")            # the initial PIN again: the host cannot see it (no -36)
    assert notices == [PinPrompt.CURRENT] * 5 + [PinPrompt.NEW] * 2
    assert driver.iReloadPIN(1, "")[0] == 0           # the PSAM enciphers the new PIN: asked from PinEntry
    assert entry.prompts == [PinPrompt.NEW, PinPrompt.CONFIRM] and card.image.pin == "135790"


def test_traces_mark_pad_commands_and_hold_no_pin(pad_terminal: PadTerminal) -> None:
    term, pad, _ = pad_terminal
    tracer = Tracer(keep=True)
    traced = Terminal(term.card_reader, term.psam_reader, trace=tracer)
    pad.type("123456 OK")
    traced.verify_pin()
    entry = [e for e in tracer.records if e["cmd_name"] == "VERIFY (PIN pad)"][0]
    assert entry["cmd"] == "0020000000" and entry["sw"] == "9000" and "never sees" in str(entry["pin"])
    events: list[dict] = []
    reader = TracingReader(term.card_reader, "card", events.append)     # what `sscard trace` wraps readers in
    pad.type("123456 OK")
    Terminal(reader, term.psam_reader).verify_pin()
    assert [e["cmd_name"] for e in events if "pin" in e] == ["VERIFY (PIN pad)"]
    assert "123456" not in json.dumps(events) + json.dumps(tracer.records)


# --- the keypad's sources -----------------------------------------------------------------------------------------------
class Session:
    def __init__(self, prompt: str, number: int = 1) -> None:
        self.prompt, self.prompt_number, self.digits = prompt, number, 0


def test_play_waits_for_each_prompt():
    keypad = K.Keypad()
    done = threading.Event()

    def holder() -> None:
        K.play(keypad, P.parse_keys("12 OK 34 OK"), prompt_timeout=10)
        done.set()
    t = threading.Thread(target=holder)
    t.start()
    first = Session("current")
    keypad.publish(first, "current", 1, 0, 30)
    assert keypad.wait_prompt(0, 1) == 1
    t.join(0.3)
    assert keypad.take() == ["1", "2", "ENTER"] and not done.is_set()    # the rest waits for the next prompt
    keypad.publish(first, "new", 2, 0, 30)
    t.join(10)
    assert keypad.take() == ["3", "4", "ENTER"] and done.is_set()
    keypad.close()


def test_keypad_socket(tmp_path):
    keypad = K.Keypad()
    path = str(tmp_path / "keys")
    sock = K.KeypadSocket(keypad, path).start()
    try:
        assert K.send(path, {"status": True}) == {"ok": True, "entry": False, "prompt": None, "prompt_serial": 0,
                                                  "digits": 0, "timeout": None}
        assert K.send(path, {"keys": "12 OK"}) == {"ok": False, "error": "no PIN entry is waiting for keys"}
        assert K.send(path, {"keys": "12 F9"})["error"].startswith("unknown key")
        assert K.send(path, {"wait": -1})["ok"] is False
        keypad.publish(Session("current"), "current", 1, 2, 30.0)
        assert K.send(path, {"wait": 5})["digits"] == 2
        assert K.send(path, {"keys": ["1", "OK"]}) == {"ok": True} and keypad.take() == ["1", "ENTER"]
        with pytest.raises(ValueError, match="another keypad"):
            K.KeypadSocket(keypad, path)
    finally:
        sock.close()
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="something else"):
        K.KeypadSocket(keypad, str(tmp_path / "file"))
    keypad.close()


def test_an_empty_answer_is_a_length_error_not_bad_characters():
    from host.standard.pinpad import ask_pin
    with pytest.raises(E.PinLengthError):
        ask_pin(ScriptedPins.of(""), PinPrompt.CURRENT)        # OK pressed on the page's pad before any digit
    with pytest.raises(E.IllegalCharacters):
        ask_pin(ScriptedPins.of("12a456"), PinPrompt.CURRENT)
