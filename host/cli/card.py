"""``sscard card new`` and ``sscard card batch PEOPLE.csv --out DIR``: personalise card images (test keys unless
given others).

Every value is checked against its item before anything is written (``Item.check``, protocols.item_checks:
dates, code tables, the ID number's check character, characters and length); a bad one is named.

``card batch`` runs the batch engine of ``firmware_sim.issuance.batch``; this module adds the progress bar, the
report of bad rows and the exit code: 0 every row issued, 1 some rows bad (the good ones are still issued), 2 the
CSV or the arguments are unusable, or an image was already there (kept, its row reported; ``--force``
replaces images). ``card new`` also keeps an image that is there unless ``--force`` (exit 2).
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Any, TextIO

from pathlib import Path

from firmware_sim.issuance.batch import NotInEncoding, issue_cards
from firmware_sim.issuance.personalise import read_jpeg, write_new_card
from host.cli.exits import EXIT_OK, EXIT_USAGE
from host.cli.options import issuer_keys
from protocols.keys import IssuerKeys
from protocols.pin import PinFormatError, check_pin
from protocols.purse import parse_yuan


def add_parser(sub: Any) -> None:
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
    cn.add_argument("--initial-pin", help="6 digits (default 123456)")
    cn.add_argument("--photo", help="JPEG file for EF08 (at most 4096 bytes)")
    cn.add_argument("--bank-holder-name", metavar="NAME",
                    help="the holder's name on the bank application, e.g. CHEN/XIAOMING (EMV tag 5F20)")
    cn.add_argument("--no-bank", action="store_true",
                    help="leave out the co-branded bank application (test-only data on the test BIN 999999)")
    cn.add_argument("--no-pki", action="store_true",
                    help="leave out the PKI application a gen3 card carries (its key pair, a test CA certificate)")
    cn.add_argument("--issuer-keys", metavar="KEYS.json", help="issuer key set (default: the test-only set)")
    cn.add_argument("--purse-balance", metavar="YUAN", default="0",
                    help="the medical purse's balance (DF04), e.g. 100.00 (default 0)")
    cn.add_argument("--force", action="store_true")
    cn.set_defaults(func=cmd_card_new)

    cb = csub.add_parser("batch", help="personalise a card image for every row of a CSV (test keys)",
                         description="Columns: name, ssn, card_number; optional region, profile, serial, "
                                     "photo (a JPEG, path relative to the CSV's folder or --photos, never "
                                     "outside it), name_ext, issue_date, expiry_date, bank_holder_name, "
                                     "purse_balance (yuan, e.g. 100.00; default 0) and other item names. Bad "
                                     "rows are reported with their line numbers.")
    cb.add_argument("people", metavar="PEOPLE.csv")
    cb.add_argument("--out", "-o", required=True, metavar="DIR", help="folder for the <card_number>.json images")
    cb.add_argument("--profile", choices=("gen2", "gen3"), default="gen2", help="for rows without a profile")
    cb.add_argument("--region", default="440100", help="for rows without a region")
    cb.add_argument("--workers", type=int, default=1, metavar="N", help="personalise in N processes")
    cb.add_argument("--durable", action="store_true", help="fsync every image (default: one sync at the end)")
    cb.add_argument("--issuer-keys", metavar="KEYS.json", nargs="+",
                    help="issuer key sets, one per algorithm (default: the test-only sets)")
    cb.add_argument("--photos", metavar="DIR", help="folder the photo column is relative to (default: the CSV's)")
    cb.add_argument("--encoding", default="utf-8-sig",
                    help="text encoding of the CSV (default UTF-8; gbk for a CSV Excel saved on Chinese Windows)")
    cb.add_argument("--force", action="store_true",
                    help="replace card images already in DIR (without it they are kept and their rows reported)")
    cb.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    cb.add_argument("--no-bank", action="store_true", help="leave out the co-branded bank application")
    cb.add_argument("--no-pki", action="store_true", help="leave out the PKI application of gen3 cards")
    cb.set_defaults(func=cmd_card_batch)


# --- card new -------------------------------------------------------------------------------------------------
def cmd_card_new(args: argparse.Namespace) -> int:
    from host.standard.formats import check_no_separators
    person = {k: v for k, v in {
        "name": args.name, "ssn": args.ssn, "card_number": args.card_number, "name_ext": args.name_ext,
        "issue_date": args.issue_date, "expiry_date": args.expiry_date,
        "bank_holder_name": args.bank_holder_name}.items() if v is not None}
    for key, value in person.items():
        check_no_separators(value, f"--{key.replace('_', '-')}")
    if args.initial_pin:
        try:
            check_pin(args.initial_pin, "--initial-pin")     # the PIN rule sscard pin and the interface follow
        except PinFormatError as exc:
            raise ValueError(str(exc)) from None
    try:
        balance = parse_yuan(args.purse_balance)
    except ValueError as exc:
        raise ValueError(f"--purse-balance: {exc}") from None
    photo = read_jpeg(args.photo, f"--photo {args.photo}") if args.photo else b""
    out = Path(args.out)
    exists = f"{out} exists: not replaced (use --force to replace it)"
    if out.exists() and not args.force:
        raise ValueError(exists)
    issuer = issuer_keys(args.issuer_keys)[0] if args.issuer_keys else None
    try:
        atr = write_new_card(out, person, profile=args.profile, region=args.region, serial=args.serial,
                             photo=photo, pin=args.initial_pin or "", issuer=issuer, replace=args.force,
                             bank=False if args.no_bank else None, pki=False if args.no_pki else None,
                             purse_balance=balance)
    except FileExistsError:          # made by someone else meanwhile
        raise ValueError(exists) from None
    print(f"card image written to {out} (profile {args.profile}, region {args.region}, ATR {atr.hex().upper()})")
    return EXIT_OK


# --- card batch -----------------------------------------------------------------------------------------------
class ProgressBar:
    """``\\r[#####     ] 512/1000`` on a text stream, redrawn at most every ``interval`` seconds."""

    def __init__(self, stream: TextIO = sys.stderr, width: int = 30, interval: float = 0.1) -> None:
        self.stream, self.width, self.interval = stream, width, interval
        self._last = 0.0
        self._drawn = False

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self._last < self.interval:
            return
        self._last = now
        filled = self.width * done // total if total else self.width
        self.stream.write(f"\r[{'#' * filled}{' ' * (self.width - filled)}] {done}/{total}")
        self._drawn = True
        if done >= total:
            self.stream.write("\n")
            self._drawn = False
        self.stream.flush()


def cmd_card_batch(args: argparse.Namespace) -> int:
    progress = None if args.quiet else ProgressBar(sys.stderr)
    issuers = [IssuerKeys.from_json(Path(p).read_text(encoding="utf-8")) for p in args.issuer_keys or ()]
    try:
        result = issue_cards(args.people, args.out, profile=args.profile, region=args.region,
                             workers=max(1, args.workers), durable=args.durable, encoding=args.encoding,
                             issuers=issuers, progress=progress, photo_dir=args.photos, force=args.force,
                             bank=False if args.no_bank else None, pki=False if args.no_pki else None)
    except NotInEncoding as exc:
        hint = ("; it reads as GBK: run again with --encoding gbk" if exc.gbk
                else "; give its encoding with --encoding (e.g. --encoding gbk)")
        raise ValueError(f"{exc}{hint}") from None
    for err in result.errors:
        print(f"{args.people}:{err.line}: {err.card_number or '-'}: {err.message}", file=sys.stderr)
    kept = sum(1 for e in result.errors if e.exists)
    print(f"{result.issued} of {result.rows} cards issued to {result.out_dir} in {result.seconds:.2f} s "
          f"({result.rate:.0f} cards/s); {len(result.errors)} bad row(s)"
          + (f", {kept} image(s) already there kept (--force replaces them)" if kept else ""))
    if kept:
        return EXIT_USAGE
    return EXIT_OK if result.ok else 1       # some rows bad (module docstring)
