"""The command table of protocols.commands is the one the emulated card and PSAM answer by, the one traces name
commands by, and it holds every command the host's card and PSAM clients send."""
from __future__ import annotations

import pytest

from firmware_sim.card_os import CardOS
from firmware_sim.demo import demo_card, demo_psam
from firmware_sim.psam import PsamOS
from hardware.inprocess import InProcessReader
from host.terminal import Terminal
from host.trace import command_name
from protocols import commands as C, pinpad as P, sw as SW


def _sw(rsp: bytes) -> int:
    return (rsp[-2] << 8) | rsp[-1]


@pytest.mark.parametrize("make, commands, clas", [
    (lambda: CardOS(demo_card()), C.CARD_BY_INS, C.CARD_CLAS),
    (lambda: PsamOS(demo_psam("440100")), C.PSAM_BY_INS, C.PSAM_CLAS),
], ids=["card", "psam"])
def test_devices_answer_by_the_table(make, commands, clas) -> None:
    """6E00 for a CLA the device does not take, 6D00 for an unknown INS, 6E00 for a CLA the INS does not take
    (the PSAM: 6D00, it knows commands by CLA and INS together); anything else reaches the command."""
    for cla in range(256):
        device = make()
        device.power_on()
        for ins in range(256):
            sw = _sw(device.process(bytes((cla, ins, 0x00, 0x00))))
            command = commands.get(ins)
            if cla not in clas:
                assert sw == SW.CLA_NOT_SUPPORTED, (hex(cla), hex(ins))
            elif command is None:
                assert sw == SW.INS_NOT_SUPPORTED, (hex(cla), hex(ins))
            elif cla not in command.clas:
                assert sw == (SW.CLA_NOT_SUPPORTED if isinstance(device, CardOS) else SW.INS_NOT_SUPPORTED)
            else:
                assert sw not in (SW.CLA_NOT_SUPPORTED, SW.INS_NOT_SUPPORTED), (command.name, hex(cla))


def test_traces_name_every_command_of_the_table() -> None:
    for command in C.CARD_COMMANDS + C.PSAM_COMMANDS:
        for cla in command.clas:
            name = command_name(bytes((cla, command.ins, 0x00, 0x01)))
            assert name == ("PIN RELOAD" if command is C.PIN_UNBLOCK_RELOAD else command.name_for(cla))
    assert command_name(bytes.fromhex("04DC010C")) == "UPDATE RECORD (MAC)"
    assert command_name(bytes.fromhex("00FA0000")) == "INS FA"


def test_pin_pad_templates_are_commands_of_the_table() -> None:
    """What a reader's PIN pad sends for the host (protocols.pinpad) is a command of the card's table, named so."""
    for request, command in ((P.verify_request(), C.VERIFY), (P.change_request(), C.CHANGE_PIN)):
        cla, ins = request.template[0], request.template[1]
        assert cla in command.clas and ins == command.ins and C.CARD_BY_INS[ins] is command
        assert command_name(request.template) == command.name


def test_the_host_sends_only_commands_of_the_table() -> None:
    sent: set[tuple[int, int]] = set()

    def hook(apdu: bytes, rsp: bytes, seconds: float) -> None:
        sent.add((apdu[0], apdu[1]))

    for card in ("guangzhou-gen2", "shenzhen-gen3"):
        image = demo_card(card)
        term = Terminal(InProcessReader(CardOS(image)), InProcessReader(PsamOS(demo_psam(image.region))), hook, hook)
        term.read_basic_info()
        term.read_photo()
        term.verify_pin("123456")
        term.change_pin("123456", "654321")
        term.unblock_pin()
        term.reload_pin("123456")
        term.write_item("SSSEEF06", "name", "王小明")
        term.write_item("DF01EF06", 0x28, "13900139000")          # plain, after external authentication
        term.write_item("DF04EF05", "medical_insured_type", "11")  # CLA 04 with a MAC
        if image.profile.name == "gen3":                          # the PKI application (host.pki)
            term.read_pki_certificate()
            term.pki_sign(b"signed", "123456")
            term.pki_pin_tries_left()
        term.block_application()
        term.unblock_application()
        term.block_card()
    assert sent <= set(C.NAMES), sorted(f"{cla:02X} {ins:02X}" for cla, ins in sent - set(C.NAMES))
    assert {(C.PSAM_INIT_VENDOR.clas[0], C.PSAM_INIT_VENDOR.ins), (0x04, C.UPDATE_RECORD.ins)} <= sent
    assert (0x00, C.PERFORM_SECURITY_OPERATION.ins) in sent
