"""The ``sscard`` command line: read, apdu, card/psam new, pin, write, block, emulate, trace, shell, serve.

Commands that talk to a card take ``--reader SPEC`` (reader specs: docs/design.md §2).

Exit codes: 0 success · 1 the card refused a command · 2 bad arguments or input · 3 no card or reader
failure · 4 bad card/PSAM image · 5 wrong PIN, blocked PIN or failed authentication · 6 no PSAM.
``trace -- CMD`` exits with CMD's code; ``shell --script`` with 0 (every line passed), 1 (a line failed:
FILE:LINE is printed) or 2 (a line could not be parsed); ``serve`` with 0 when stopped (Ctrl-C), 2 for bad
options (host.tracing, host.shell, host.serve).
"""
from __future__ import annotations

import argparse
import getpass
import json
import sys
import unicodedata
from pathlib import Path
from typing import Sequence

from host import errors as E
from host.spec import ReaderSpecError, default_spec, open_readers, open_terminal
from host.terminal import BasicInfo
from protocols.keys import IssuerKeys
from protocols.regions import region_name

EXIT_OK, EXIT_CARD, EXIT_USAGE, EXIT_READER, EXIT_IMAGE, EXIT_AUTH, EXIT_NO_PSAM = 0, 1, 2, 3, 4, 5, 6

LABELS = (
    ("name", "姓名", "Name"), ("ssn", "社会保障号码", "Social security number"),
    ("card_number", "卡号", "Card number"), ("region", "发卡地区", "Issuing region"),
    ("issue_date", "发卡日期", "Issue date"), ("expiry_date", "有效期至", "Expiry date"),
    ("spec_version", "规范版本", "Card version"), ("card_id", "卡识别码", "Card identification code"),
    ("sex", "性别", "Sex"), ("birth_date", "出生日期", "Birth date"),
    ("terminal_number", "终端机编号", "Terminal number"), ("authenticated", "卡片认证", "Card authenticated"),
)


def _date(d: str) -> str:
    return f"{d[:4]}-{d[4:6]}-{d[6:]}" if len(d) == 8 else d


def format_basic_info(info: BasicInfo) -> str:
    values = info.as_dict()
    values["region"] = f"{info.region} {region_name(info.region)}"
    for k in ("issue_date", "expiry_date", "birth_date"):
        values[k] = _date(str(values[k]))
    values["sex"] = {"1": "男 male", "2": "女 female"}.get(info.sex, info.sex)
    values["authenticated"] = ("是 yes (" + info.algorithm + ")") if info.authenticated else "否 no"
    labels = [f"{zh} {en}" for _, zh, en in LABELS]
    width = max(_display_width(label) for label in labels)
    return "\n".join(label + " " * (width - _display_width(label) + 2) + str(values[key])
                     for label, (key, _, _) in zip(labels, LABELS))


def _display_width(text: str) -> int:
    """Terminal columns: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pin(args: argparse.Namespace, attr: str = "pin", prompt: str = "PIN: ") -> str:
    value = getattr(args, attr, None)
    if value:
        return value
    if not sys.stdin.isatty():
        line = sys.stdin.readline().strip()
        if line:
            return line
    return getpass.getpass(prompt)


# --- commands ------------------------------------------------------------------------------------------
def cmd_read(args: argparse.Namespace) -> int:
    term = open_terminal(args.reader)
    try:
        info = term.read_basic_info(authenticate=None if not args.no_auth else False)
    finally:
        term.close()
    if args.json:
        print(json.dumps(info.as_dict(), ensure_ascii=False))
    else:
        print(format_basic_info(info))
    return EXIT_OK


def cmd_apdu(args: argparse.Namespace) -> int:
    from host.engine import ApduEngine
    from protocols.apdu import from_hex, CommandAPDU
    commands = []
    for n, text in enumerate(args.apdus, 1):
        try:
            commands.append(from_hex(text))
            CommandAPDU.parse(commands[-1])
        except E.MalformedApdu as exc:    # the messages give positions and lengths, never the APDU's bytes
            raise E.MalformedApdu(f"APDU {n}: {exc}") from None
    card_reader, psam_reader = open_readers(args.reader)
    reader = psam_reader if args.psam else card_reader
    if reader is None:
        raise E.NoPsam("this reader has no PSAM slot")
    engine = ApduEngine(reader)
    try:
        with reader.transaction():
            engine.connect()
            for raw in commands:
                rsp = engine.transmit(raw) if not args.raw else None
                if rsp is None:
                    print(reader.transmit(raw).hex().upper())
                else:
                    print(rsp.hex())
    finally:
        reader.disconnect()
    return EXIT_OK


def cmd_card_new(args: argparse.Namespace) -> int:
    from hardware.sim import write_new_card
    from host.standard.formats import check_no_separators
    person = {k: v for k, v in {
        "name": args.name, "ssn": args.ssn, "card_number": args.card_number, "name_ext": args.name_ext,
        "issue_date": args.issue_date, "expiry_date": args.expiry_date}.items() if v is not None}
    for key, value in person.items():
        check_no_separators(value, f"--{key.replace('_', '-')}")
    from hardware.issuance import read_jpeg
    photo = read_jpeg(args.photo, f"--photo {args.photo}") if args.photo else b""
    out = Path(args.out)
    if out.exists() and not args.force:
        raise ValueError(f"{out} exists (use --force to replace it)")
    issuer = _issuer_keys(args.issuer_keys)[0] if args.issuer_keys else None
    atr = write_new_card(out, person, profile=args.profile, region=args.region, serial=args.serial, photo=photo,
                         pin=args.initial_pin or "", issuer=issuer)
    print(f"card image written to {out} (profile {args.profile}, region {args.region}, ATR {atr.hex().upper()})")
    return EXIT_OK


def _issuer_keys(*paths: str) -> tuple[IssuerKeys, ...]:
    """Issuer key sets from JSON files (protocols.keys); the shipped test sets are in firmware_sim/demo/.

    Errors name the file and the key, never a key's value: each key's hex is checked here before the parser
    sees it (its own message would quote the value)."""
    sets = []
    for path in paths:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not JSON ({exc.msg}, line {exc.lineno} column {exc.colno})") from None
        keys = data.get("keys") if isinstance(data, dict) else None
        for name, text in keys.items() if isinstance(keys, dict) else ():
            if isinstance(text, str):
                try:
                    bytes.fromhex(text)
                except ValueError:
                    raise ValueError(f"{path}: key {name}: not a hex string") from None
        try:
            sets.append(IssuerKeys.from_json_dict(data))
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
    return tuple(sets)


def cmd_psam_new(args: argparse.Namespace) -> int:
    from hardware.sim import write_new_psam
    out = Path(args.out)
    if out.exists() and not args.force:
        raise ValueError(f"{out} exists (use --force to replace it)")
    issuers = _issuer_keys(*args.issuer_keys) if args.issuer_keys else None
    terminal = write_new_psam(out, args.region, args.terminal or args.region + "000001", issuers)
    print(f"PSAM image written to {out} (region {args.region}, terminal {terminal})")
    return EXIT_OK


def cmd_pin(args: argparse.Namespace) -> int:
    term = open_terminal(args.reader)
    try:
        pad = term.pin_pad() is not None and not args.pin   # the holder types on the reader's PIN pad (host/pinpad.py)
        if args.action == "verify":
            term.verify_pin(None if pad else _pin(args))
            print("PIN verified")
        elif args.action == "tries":
            print(term.pin_tries_left())
        elif args.action == "change":
            old = None if pad else _pin(args, "pin", "current PIN: ")
            new = None if pad else _pin(args, "new_pin", "new PIN: ")
            term.change_pin(old, new)
            print("PIN changed")
        elif args.action == "reload":
            term.reload_pin(_pin(args, "new_pin", "new PIN: "))
            print("PIN reloaded")
        else:
            term.unblock_pin()
            print("PIN unblocked")
    finally:
        term.close()
    return EXIT_OK


def cmd_write(args: argparse.Namespace) -> int:
    from host.standard.formats import check_no_separators
    check_no_separators(args.value, f"{args.file} {args.tag}")   # read back, it would add interface fields
    term = open_terminal(args.reader)
    try:
        item: str | int = args.tag
        if len(args.tag) == 2:
            try:
                item = int(args.tag, 16)
            except ValueError:
                pass
        term.write_item(args.file, item, args.value)
    finally:
        term.close()
    print(f"{args.file} {args.tag} written")
    return EXIT_OK


def cmd_block(args: argparse.Namespace) -> int:
    term = open_terminal(args.reader)
    try:
        if args.command == "unblock":
            term.unblock_application(args.df)
            print(f"{args.df} unblocked")
        elif args.card:
            term.block_card()
            print("card blocked")
        else:
            term.block_application(args.permanent, args.df)
            print(f"{args.df} blocked" + (" permanently" if args.permanent else ""))
    finally:
        term.close()
    return EXIT_OK


def cmd_readers(args: argparse.Namespace) -> int:
    print("sim\tin-process emulator: demo card and PSAM (sim:CARD.json[,psam=PSAM.json])")
    try:
        from hardware import pcsc
        for i, name in enumerate(pcsc.list_readers()):
            print(f"pcsc:{i}\t{name}")
    except E.ReaderError as exc:
        print(f"pcsc\tnot available: {exc}", file=sys.stderr)
    return EXIT_OK


def cmd_emulate(args: argparse.Namespace) -> int:
    from host.emulate import run_emulator
    return run_emulator(args)


# --- parser --------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sscard", description="Social security card terminal and emulator.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def reader_arg(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--reader", "-r", default=default_spec(),
                        help="reader spec: sim, sim:CARD.json[,psam=PSAM.json], pcsc[:N|NAME], ccid-serial:DEV "
                             "(default: $SSCARD_READER or sim)")

    sp = sub.add_parser("read", help="read the card holder's basic information (EF05, EF06)")
    reader_arg(sp)
    sp.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    sp.add_argument("--no-auth", action="store_true", help="skip card authentication through the PSAM")
    sp.set_defaults(func=cmd_read)

    sp = sub.add_parser("apdu", help="send APDUs in one card session; prints one response (hex, SW last) a line")
    reader_arg(sp)
    sp.add_argument("--psam", action="store_true", help="send to the PSAM slot instead of the card")
    sp.add_argument("--raw", action="store_true", help="no GET RESPONSE / 6Cxx handling")
    sp.add_argument("apdus", nargs="+", metavar="HEX")
    sp.set_defaults(func=cmd_apdu)

    sp = sub.add_parser("card", help="card images")
    csub = sp.add_subparsers(dest="card_command", required=True)
    cn = csub.add_parser("new", help="personalise a new card image (test keys)")
    cn.add_argument("--out", "-o", required=True)
    cn.add_argument("--name", required=True)
    cn.add_argument("--ssn", required=True, help="18-character citizen ID number")
    cn.add_argument("--card-number", required=True, help="9 characters, e.g. A44010001")
    cn.add_argument("--name-ext")
    cn.add_argument("--profile", choices=("gen2", "gen3"), default="gen2")
    cn.add_argument("--region", default="440100")
    cn.add_argument("--serial", type=int, default=1)
    cn.add_argument("--issue-date")
    cn.add_argument("--expiry-date")
    cn.add_argument("--initial-pin")
    cn.add_argument("--photo", help="JPEG file for EF08 (at most 4096 bytes)")
    cn.add_argument("--issuer-keys", metavar="KEYS.json", help="issuer key set (default: the test-only set)")
    cn.add_argument("--force", action="store_true")
    cn.set_defaults(func=cmd_card_new)
    from host import issuance  # `sscard card batch`
    issuance.add_parser(csub)

    sp = sub.add_parser("psam", help="PSAM images")
    psub = sp.add_subparsers(dest="psam_command", required=True)
    pn = psub.add_parser("new", help="a new PSAM image with the city keys of a region (test keys)")
    pn.add_argument("--out", "-o", required=True)
    pn.add_argument("--region", default="440100")
    pn.add_argument("--terminal", help="12-digit terminal number")
    pn.add_argument("--issuer-keys", metavar="KEYS.json", nargs="+", help="issuer key sets, one per algorithm")
    pn.add_argument("--force", action="store_true")
    pn.set_defaults(func=cmd_psam_new)

    sp = sub.add_parser("pin", help="PIN: verify, tries, change, reload (PSAM), unblock (PSAM)")
    reader_arg(sp)
    sp.add_argument("action", choices=("verify", "tries", "change", "reload", "unblock"))
    sp.add_argument("--pin", help="the (current) PIN; read from stdin or prompted when absent (a reader with a "
                    "PIN pad: typed there)")
    sp.add_argument("--new-pin", help="the new PIN for change/reload")
    sp.set_defaults(func=cmd_pin)

    sp = sub.add_parser("write", help="update one record item through the PSAM, e.g. write SSSE/EF06 name 王五")
    reader_arg(sp)
    sp.add_argument("file", help="SSSEEF06, DF01EF06, …")
    sp.add_argument("tag", help="item tag (hex, e.g. 09) or name (e.g. name)")
    sp.add_argument("value")
    sp.set_defaults(func=cmd_write)

    for name in ("block", "unblock"):
        sp = sub.add_parser(name, help=f"{name} the application (MAC from the PSAM)")
        reader_arg(sp)
        sp.add_argument("--df", default="SSSE")
        if name == "block":
            sp.add_argument("--permanent", action="store_true")
            sp.add_argument("--card", action="store_true", help="CARD BLOCK: the whole card, for ever")
        sp.set_defaults(func=cmd_block)

    sp = sub.add_parser("readers", help="list readers")
    sp.set_defaults(func=cmd_readers)

    sp = sub.add_parser("emulate", help="serve the emulated card and PSAM to pcscd (vpcd) or on a serial pty")
    sp.add_argument("--card", help="card image (default: the demo card, in memory)")
    sp.add_argument("--psam", help="PSAM image (default: the demo PSAM of the card's region)")
    sp.add_argument("--vpcd", metavar="[HOST:]PORT", help="connect to vpcd (card at PORT, PSAM at PORT+1)")
    sp.add_argument("--allow-remote", action="store_true", help="allow a vpcd HOST that is not loopback")
    sp.add_argument("--serial-pty", metavar="PATH", nargs="?", const="", help="serve a CCID serial reader on a pty")
    sp.add_argument("--baud", type=int, default=0, help="pace the serial line at this rate")
    sp.add_argument("--protocol", choices=("t0", "t1"), default="t0", help="serial: what the card's ATR offers")
    sp.add_argument("--fidi", metavar="HEX", help="serial: the card's TA1 (e.g. 96) for a faster PPS")
    from hardware.pinpad_serve import add_emulate_arguments  # --pinpad, --psam-pty, --keys, --keypad-socket
    add_emulate_arguments(sp)
    fault = sp.add_argument_group("fault injection (card slot)")
    fault.add_argument("--remove-at", type=int, metavar="N", help="take the card out at the N-th command")
    fault.add_argument("--force-sw", action="append", metavar="INS:SW[@N]", help="answer SW to INS (repeatable)")
    fault.add_argument("--delay", type=float, default=0.0, metavar="S", help="a slow card: S seconds per command")
    fault.add_argument("--tear-at", type=int, metavar="N", help="power lost in the middle of the N-th image write")
    sp.set_defaults(func=cmd_emulate)

    from host import serve, shell, tracing  # trace, shell, serve
    tracing.add_parser(sub)
    shell.add_parser(sub, reader_arg)
    serve.add_parser(sub, reader_arg)
    return p


# Exit code and message for each error type, most specific first (the table the module docstring states).
_EXITS: tuple[tuple[tuple[type[BaseException], ...], int, bool], ...] = (
    ((E.WrongPin, E.PinBlocked, E.AuthenticationFailed), EXIT_AUTH, True),
    ((E.NoPsam,), EXIT_NO_PSAM, False),
    ((E.CardError,), EXIT_CARD, True),
    ((E.BadCardImage,), EXIT_IMAGE, False),
    ((E.ReaderError,), EXIT_READER, False),
    ((E.WrongCard,), EXIT_CARD, False),
    ((ReaderSpecError, E.MalformedApdu, ValueError, OSError), EXIT_USAGE, False),
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        for types, code, with_interface_code in _EXITS:
            if isinstance(exc, types):
                prefix = "bad image: " if code == EXIT_IMAGE else ""
                suffix = f" (code {E.error_code(exc)})" if with_interface_code else ""
                print(f"sscard: {prefix}{exc}{suffix}", file=sys.stderr)
                return code
        raise


if __name__ == "__main__":
    sys.exit(main())
