"""The one APDU engine: 61xx chains, 6Cxx retries, validation, tracing."""
from __future__ import annotations

import pytest

from firmware_sim.card_os import CardOS
from firmware_sim.demo import demo_card
from firmware_sim.device import Device, DeviceWrapper, MinimalDevice
from hardware.inprocess import InProcessReader
from host.engine import ApduEngine
from host.trace import Tracer
from protocols.errors import MalformedApdu, NoCard, ReaderError


class ScriptedDevice(MinimalDevice):
    """A fault-injection fake: answers from a script, to drive the engine into its corner cases."""

    def __init__(self, answers: list[str]) -> None:
        super().__init__(b"\x3B\x00")
        self.answers = [bytes.fromhex(a) for a in answers]
        self.seen: list[bytes] = []

    def process(self, apdu: bytes) -> bytes:
        self.seen.append(apdu)
        return self.answers.pop(0) if self.answers else b"\x6F\x00"


def engine_for(device: object) -> ApduEngine:
    e = ApduEngine(InProcessReader(device))  # type: ignore[arg-type]  # test devices that implement only part of Device
    e.connect()
    return e


def test_the_minimal_device_answers_9000_with_a_fixed_atr_and_a_wrapper_as_it_does() -> None:
    dev = MinimalDevice(b"\x3B\x00")
    assert isinstance(dev, Device)
    assert dev.power_on() == dev.reset() == dev.atr == b"\x3B\x00"
    assert engine_for(dev).send("00B2012C00").sw == 0x9000
    wrapped = DeviceWrapper(dev)
    assert isinstance(wrapped, Device) and wrapped.atr == wrapped.power_on() == b"\x3B\x00"
    assert wrapped.process(bytes.fromhex("00B2012C00")) == b"\x90\x00"


def test_61xx_chain_is_fetched_and_joined() -> None:
    dev = ScriptedDevice(["6104", "AABBCCDD6102", "EEFF9000"])
    rsp = engine_for(dev).send("80FA000008" + "00" * 8)
    assert rsp.data == bytes.fromhex("AABBCCDDEEFF") and rsp.sw == 0x9000
    assert dev.seen[1:] == [bytes.fromhex("00C0000004"), bytes.fromhex("00C0000002")]


def test_6cxx_retries_once_with_the_exact_le() -> None:
    dev = ScriptedDevice(["6C0B", "0709" + "41" * 9 + "9000"])
    rsp = engine_for(dev).send("00B2072C05")
    assert rsp.sw == 0x9000 and len(rsp.data) == 11
    assert dev.seen[1] == bytes.fromhex("00B2072C0B")


def test_6cxx_on_a_command_without_le_is_returned_not_retried() -> None:
    dev = ScriptedDevice(["6C0B"])
    assert engine_for(dev).send("00A4020002EF05").sw == 0x6C0B
    assert len(dev.seen) == 1


def test_endless_61xx_is_a_reader_error() -> None:
    dev = ScriptedDevice(["6101"] * 400)
    with pytest.raises(ReaderError, match="61xx"):
        engine_for(dev).send("0084000008")


def test_malformed_commands_are_not_sent() -> None:
    dev = ScriptedDevice([])
    with pytest.raises(MalformedApdu):
        engine_for(dev).send("00A4020003EF05")
    assert dev.seen == []


def test_real_card_through_the_engine_and_trace_redaction() -> None:
    tracer = Tracer(keep=True)
    e = ApduEngine(InProcessReader(CardOS(demo_card())), tracer)
    e.connect()
    assert e.send("00A404000F7378312E73682EC9E7BBE1B1A3D5CF").data[0] == 0x6F
    assert e.send("0020000003123456").sw == 0x9000
    assert e.send("00B2013400").data[2:].decode() == "440106198503127719"
    names = [r["cmd_name"] for r in tracer.records]
    assert names == ["SELECT", "GET RESPONSE", "VERIFY", "READ RECORD"]
    verify, read = tracer.records[2], tracer.records[3]
    assert "123456" not in str(verify["cmd"]) and "redacted" in str(verify["cmd"])
    assert "3434303130" not in str(read["rsp"]) and str(read["rsp"]).endswith("9000")
    assert read["sw_zh"] == "成功"


def test_no_card_is_typed() -> None:
    reader = InProcessReader(None)
    with pytest.raises(NoCard):
        ApduEngine(reader).connect()
    card_reader = InProcessReader(CardOS(demo_card()))
    e = ApduEngine(card_reader)
    e.connect()
    card_reader.remove()
    with pytest.raises(NoCard):
        e.send("0084000008")
