"""The emulator process that ``test_kill.py`` SIGKILLs: a card on an image file running state-changing
commands for ever (wrong and right PINs, CHANGE PIN, EXTERNAL AUTHENTICATE with key 06 + PIN UNBLOCK or PIN
RELOAD, EXTERNAL AUTHENTICATE + UPDATE RECORD).

    python -m tests.faults.kill_child CARD.json SEED

It prints ``READY`` once the card is up, ``S <n>`` after its n-th image write has returned, and
``R <ins> <sw>`` after each answer. :func:`script` is a pure function of the image and the seed, so the test
replays it in memory to know every image the child writes.
"""
from __future__ import annotations

import random
import sys
from collections.abc import Callable
from typing import Any

from firmware_sim.card_os import CardOS
from firmware_sim.image import ImageStore, load_card
from protocols import crypto
from tests.support import cardkit as ck

OTHER_PIN = "654321"


def script(cos: CardOS, rnd: random.Random, say: Callable[[str], None]) -> None:
    """Run state-changing commands until killed (or until ``say`` raises)."""

    def send(apdu: bytes) -> int:
        sw = ck.sw(cos.process(apdu))
        say(f"R {apdu[1]:02X} {sw:04X}")
        return sw

    def challenge() -> bytes:
        rsp = cos.process(ck.GET_CHALLENGE)
        say(f"R 84 {ck.sw(rsp):04X}")
        return rsp[:-2]

    def external_auth(key_name: str, key_id: int, vector: bytes) -> int:
        cryptogram = crypto.external_auth_cryptogram(cos.alg, ck.key(cos, key_name), challenge(), vector)
        return send(bytes((0x00, 0x82, 0x00, key_id, 0x10)) + cryptogram + vector)

    def secured(header: bytes, pin: str | None = None) -> int:
        """A CLA 84 command MAC'd under STK for a fresh challenge, with LV(PIN) enciphered when given."""
        ch, stk = challenge(), ck.key(cos, "STK")
        body = crypto.sm_encipher(cos.alg, stk, ch, crypto.pin_to_bcd(pin)) if pin is not None else b""
        lc = bytes((len(body) + 4,))
        return send(header + lc + body + crypto.sm_mac(cos.alg, stk, ch, header + lc + body))

    while True:
        send(ck.SELECT_SSSE[:3] + b"\x0C" + ck.SELECT_SSSE[4:])
        img = cos.image
        action = rnd.randrange(6)
        if img.pin_tries_left == 0:                    # key 06, then PIN UNBLOCK (MAC only) or PIN RELOAD
            if external_auth("RLK", cos.profile.pin_admin_key, rnd.randbytes(8)) == 0x9000:
                if rnd.randrange(2):
                    secured(bytes.fromhex("84240000"))
                else:
                    secured(bytes.fromhex("84240001"), OTHER_PIN if img.pin == ck.PIN else ck.PIN)
        elif action in (0, 1):
            send(ck.verify(rnd.choice(["000000", "111111", "999999"])))
        elif action == 2:
            send(ck.verify(img.pin))
        elif action == 3:
            send(ck.change_pin(img.pin, OTHER_PIN if img.pin == ck.PIN else ck.PIN))
        else:
            if external_auth("UK", 0x04, rnd.randbytes(8)) == 0x9000:
                number = "".join(rnd.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(9))
                send(ck.update_record(7, 5, b"\x07\x09" + number.encode("ascii")))


class LoggingStore(ImageStore):
    """Writes like ``ImageStore`` and tells the parent after each write has returned."""

    def __init__(self, path: str, say: Callable[[str], None]) -> None:
        super().__init__(path)
        self.say = say
        self.n = 0

    def save(self, doc: dict[str, Any]) -> None:
        super().save(doc)
        self.n += 1
        self.say(f"S {self.n}")


def card_rng(seed: int) -> Callable[[int], bytes]:
    rnd = random.Random(seed ^ 0x5EED)
    return rnd.randbytes


def main(argv: list[str]) -> int:
    path, seed = argv[0], int(argv[1])

    def say(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    cos = CardOS(load_card(path), LoggingStore(path, say), rng=card_rng(seed))
    cos.power_on()
    say("READY")
    script(cos, random.Random(seed), say)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
