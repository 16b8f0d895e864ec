"""``sscard psam new``: a new PSAM image with the city keys of a region (test keys unless given others)."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from firmware_sim.issuance.personalise import write_new_psam
from host.cli.exits import EXIT_OK
from host.cli.options import issuer_keys


def add_parser(sub: Any) -> None:
    sp = sub.add_parser("psam", help="PSAM images")
    psub = sp.add_subparsers(dest="psam_command", required=True)
    pn = psub.add_parser("new", help="a new PSAM image with the city keys of a region (test keys)")
    pn.add_argument("--out", "-o", required=True)
    pn.add_argument("--region", default="440100")
    pn.add_argument("--terminal", help="12-digit terminal number")
    pn.add_argument("--issuer-keys", metavar="KEYS.json", nargs="+", help="issuer key sets, one per algorithm")
    pn.add_argument("--force", action="store_true")
    pn.set_defaults(func=cmd_psam_new)


def cmd_psam_new(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.exists() and not args.force:
        raise ValueError(f"{out} exists (use --force to replace it)")
    issuers = issuer_keys(*args.issuer_keys) if args.issuer_keys else None
    terminal = write_new_psam(out, args.region, args.terminal or args.region + "000001", issuers)
    print(f"PSAM image written to {out} (region {args.region}, terminal {terminal})")
    return EXIT_OK
