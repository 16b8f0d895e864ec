"""APDU sequences of public production software and real-card logs, replayed byte for byte.

Each sequence is a function of a :class:`Replay` (a card slot and a PSAM slot) and cites its source. Values
that production code computes at run time (the card's challenge, the PSAM's cryptogram, the ATR factor, the
region from the card ID code) are taken from the previous answers exactly as that code does; nothing is
computed with the card's keys on the test side.

Sources (public):
* [WAPP]    a7082633/HDOS_VC6 ``湖南项目/湖南动态库 - (自有)- 娄底/湖南动态库 - (自有)- 娄底/WAPP.CPP``:
  ``ExterAuthen`` (PSAM ``BF DE`` + ``80 FA 00 00 08 0102030405060708``, card ``00 82 00 KID 10 C ‖ 01..08``),
  ``PerPINUnLock`` (``84 24 00 00 04 MAC``), ``ResetPassWord`` (``84 24 00 01 0C E ‖ MAC``), ``PerPINChange``.
* [HUZHOU]  a7082633/HDOS_VC6 ``湖州/ICCInter2/ICCInter.cpp`` (county DLL: SSSE reads, ``00A4010002DF03``, VERIFY,
  EF19, the PSAM's ``00A4000000``, EF 0015 and 0016).
* [T-LOUDI] a7082633/HDOS_VC6 ``湖南项目/湖南动态库 - (自有)- 娄底/DEBUG/apdu.txt`` (a real 2012 gen2 card:
  ``00 B2 01 05 FF`` answers all of EF05 in one response).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from host.reader import Reader
from protocols.atr import historical_bytes

SSSE = "00A404000F7378312E73682EC9E7BBE1B1A3D5CF"
D_FIXED = "0102030405060708"        # [WAPP] ExterAuthen: the data enciphered by the PSAM


class ReplayError(AssertionError):
    """A step answered another status word than the production code accepts."""


@dataclass
class Replay:
    """Raw APDUs to the two slots, as a reader's APDU-level API passes them (a T=0 driver re-sends a case-2
    command with the Le a 6Cxx names; 61xx is left to the sequence, which sends GET RESPONSE itself)."""

    card: Reader
    psam: Reader
    atr: bytes = b""
    log: list[tuple[str, str, str]] = field(default_factory=list)

    def _send(self, slot: str, reader: Reader, hex_apdu: str, ok: tuple[str, ...]) -> bytes:
        apdu = bytes.fromhex(hex_apdu.replace(" ", ""))
        rsp = reader.transmit(apdu)
        if rsp[-2] == 0x6C and len(apdu) in (4, 5):
            apdu = apdu[:4] + rsp[-1:]
            rsp = reader.transmit(apdu)
        sw = rsp[-2:].hex().upper()
        self.log.append((slot, apdu.hex().upper(), rsp.hex().upper()))
        if not any(sw == want or (want.endswith("xx") and sw.startswith(want[:2])) for want in ok):
            raise ReplayError(f"{slot} {apdu.hex().upper()} answered {sw}, production code accepts {ok}")
        return rsp[:-2]

    def c(self, hex_apdu: str, *ok: str) -> bytes:
        return self._send("card", self.card, hex_apdu, ok or ("9000",))

    def p(self, hex_apdu: str, *ok: str) -> bytes:
        return self._send("psam", self.psam, hex_apdu, ok or ("9000",))


def card_factor_hex(atr: bytes) -> str:
    """[WAPP] ``_ATR``: the last 8 bytes of the card's T=0 ATR, i.e. of its historical bytes (an ATR that
    offers T=1, as the simulated T=1 serial path's does, ends with a check byte that is not part of it)."""
    return historical_bytes(atr)[-8:].hex().upper()


def city_hex(region: str) -> str:
    """[WAPP] ``_CityCode[0..5] ‖ 73 78``."""
    return region.encode("ascii").hex().upper() + "7378"


def province_hex(region: str) -> str:
    """[WAPP] ``_CityCode[0..1] ‖ "0000" ‖ 73 68``."""
    return (region[:2] + "0000").encode("ascii").hex().upper() + "7368"


def read_region(r: Replay) -> str:
    """[WAPP] ResetPassWord/PerPINUnLock: SELECT EF05, ``00 B2 01 04 12``, region = first 6 hex digits of the ID."""
    r.c(SSSE, "61xx", "9000")
    r.c("00A4000002EF05")
    rec = r.c("00B2010412")
    return rec[2:5].hex().upper()


def exter_authen(r: Replay, p1p2: str, key_id: str, region: str, levels: int) -> None:
    """[WAPP] ExterAuthen(WorkKey, level): GET CHALLENGE, PSAM DF01, ``BF DE`` with card ‖ city [‖ province] ‖
    challenge, ``80 FA 00 00 08 01..08`` → 61 08 → ``00 C0 00 00 08``, card ``00 82 00 KID 10 C ‖ 01..08``."""
    challenge = r.c("0084000008").hex().upper()
    r.p("00A4000002DF01", "9000", "61xx")
    factors = card_factor_hex(r.atr) + city_hex(region) + (province_hex(region) if levels == 3 else "")
    r.p(f"BFDE{p1p2}{len(factors) // 2 + 8:02X}{factors}{challenge}")
    r.p(f"80FA000008{D_FIXED}", "61xx")
    cryptogram = r.p("00C0000008").hex().upper()
    r.c(f"008200{key_id}10{cryptogram}{D_FIXED}")


def per_pin_unlock(r: Replay) -> None:
    """[WAPP] PerPINUnLock: external authentication with key 06 (PSAM 48 10, two levels), a fresh challenge,
    ``BF DE 48 09`` (STK), MAC over ``84 24 00 00 04 80 00 00`` with a zero IV, ``84 24 00 00 04 MAC``."""
    region = read_region(r)
    exter_authen(r, "4810", "06", region, 2)
    challenge = r.c("0084000008").hex().upper()
    r.p("00A4000002DF01", "9000", "61xx")
    r.p(f"BFDE480918{card_factor_hex(r.atr)}{city_hex(region)}{challenge}")
    r.p("80FA050010" + "00" * 8 + "8424000004800000", "61xx")
    mac = r.p("00C0000008")[:4].hex().upper()
    r.c(f"8424000004{mac}")


def reset_password(r: Replay, new_pin: str) -> None:
    """[WAPP] ResetPassWord: key 06 authentication, a fresh challenge, ``BF DE 48 09``, the PSAM enciphers
    ``03 <PIN BCD> 80 00 00 00``, ``BF DE 48 09`` again, MAC over ``84 24 00 01 0C ‖ E ‖ 80 00 00``,
    ``84 24 00 01 0C E ‖ MAC``."""
    region = read_region(r)
    exter_authen(r, "4810", "06", region, 2)
    challenge = r.c("0084000008").hex().upper()
    init = f"BFDE480918{card_factor_hex(r.atr)}{city_hex(region)}{challenge}"
    r.p("00A4000002DF01", "9000", "61xx")
    r.p(init)
    r.p(f"80FA00000803{new_pin}80000000", "61xx")
    enc = r.p("00C0000008").hex().upper()
    r.p(init)
    r.p(f"80FA050018{'00' * 8}842400010C{enc}800000", "61xx")
    mac = r.p("00C0000008")[:4].hex().upper()
    r.c(f"842400010C{enc}{mac}")


def per_pin_change(r: Replay, old: str, new: str) -> None:
    """[WAPP] PerPINChange: SELECT SSSE (61xx), then ``80 5E 01 00 07 old ‖ FF ‖ new`` with no VERIFY."""
    r.c(SSSE, "61xx", "9000")
    r.c(f"805E010007{old}FF{new}")


def county_reads(r: Replay, pin: str) -> dict[str, bytes]:
    """[HUZHOU] the county DLL's read, byte for byte: SSSE EF05/EF06 by record, ``00A4010002DF03``, VERIFY,
    EF19 by tag, then the PSAM's MF (``00A4000000``), EF 0015 (15 bytes) and EF 0016 (terminal number)."""
    out: dict[str, bytes] = {}
    r.c(SSSE, "61xx", "9000")
    r.c("00A4000002EF05")
    out["card_type"] = r.c("00B2020403")
    out["card_id"] = r.c("00B2010412")
    out["card_number"] = r.c("00B207040B")
    r.c("00A4000002EF06")
    out["ssn"] = r.c("00B20104")
    out["name"] = r.c("00B20204")
    r.c("00A4010002DF03", "9000", "61xx")
    r.c(f"0020000003{pin}")
    r.c("00A4000002EF19")
    out["ef19"] = r.c("00B2790029")
    r.p("00A4000000", "9000", "61xx")
    r.p("00A40000020015")
    out["psam_public"] = r.p("00B000000F")
    r.p("00A40000020016")
    out["terminal"] = r.p("00B0000006")
    return out


def loudi_read_all(r: Replay) -> bytes:
    """[T-LOUDI] 2012-09-10 14:37: SELECT SSSE, ``00A4000002EF05``, ``00B20105FF`` (all records in one)."""
    r.c(SSSE, "61xx", "9000")
    r.c("00A4000002EF05")
    return r.c("00B20105FF")


def internal_auth_process_factor_first(r: Replay, process: str, data: str) -> tuple[bytes, bytes]:
    """Internal authentication as production terminals check it: ``00 88 00 00 10 P ‖ D`` to the card, and
    the PSAM's IRK (``BF DE 67 08`` with card ‖ city ‖ province ‖ P) enciphers D (3DES)."""
    region = read_region(r)
    answer = r.c(f"0088000010{process}{data}08", "9000", "61xx")
    if not answer:
        answer = r.c("00C0000008")
    r.p("00A4000002DF01", "9000", "61xx")
    factors = card_factor_hex(r.atr) + city_hex(region) + province_hex(region)
    r.p(f"BFDE670820{factors}{process}")
    r.p(f"80FA000008{data}", "61xx")
    return answer, r.p("00C0000008")
