"""``sscard write FILE TAG VALUE``: update one record item through the PSAM (external authentication or MAC).

The file, the item and the value are checked before the reader is opened: an unknown file or item is answered
with the valid ones, and the value must pass its item's check (``Item.check``, protocols.item_checks: a real
date, a code of the item's table, an ID number with its check character, characters and length). A bad value
names the item and exits 2; nothing is sent to the card.
"""
from __future__ import annotations

import argparse
from typing import Any

from host.cli.exits import EXIT_OK
from host.cli.options import reader_arg
from host.spec import open_terminal
from protocols.codecs import Fmt
from protocols.profile import GEN2, Item, RecordFile


def writable_files() -> dict[str, RecordFile]:
    """The files ``write`` takes, by their pFileAddr name (SSSEEF06, DF01EF05 …): linear record files."""
    return {(df.name + ef.name): ef for df in GEN2.dfs for ef in df.files
            if isinstance(ef, RecordFile) and ef.items and not ef.cyclic_records}


def item_hint(item: Item) -> str:
    """What the item takes, in a few words (its rule's hint, else its format; a B-TLV template: its sub-items'
    values, each followed by ',')."""
    if item.subs:
        return "sub-items " + " ".join(f"{s.tag:02X}" for s in item.subs) + ", each value followed by ','"
    if item.rule is not None:
        return item.rule.hint
    if item.fmt is Fmt.AN:
        return f"text, at most {item.length} byte{'s' if item.length > 1 else ''} in GBK"
    if item.fmt is Fmt.CN:
        return f"at most {2 * item.length} digits"
    return f"{2 * item.length} hex digits"


def items_help() -> str:
    lines = ["files and items (TAG, TAG:NN for the records of a repeated tag, or NAME, then what the value must be):"]
    for name, ef in writable_files().items():
        lines.append(f"  {name}  {ef.title}")
        lines += [f"    {ef.address(it)} {it.name:<22} {it.title}: {item_hint(it)}" for it in ef.items]
    lines.append("SSSE may also be written MF or 3F00 (MFEF06); a value that does not fit its item is refused (exit 2) "
                 "before anything is sent to the card.")
    return "\n".join(lines)


def add_parser(sub: Any) -> None:
    sp = sub.add_parser("write", help="update one record item through the PSAM, e.g. write SSSEEF06 name 王五",
                        description="Update one record item through the PSAM (external authentication or MAC).",
                        epilog=items_help(), formatter_class=argparse.RawDescriptionHelpFormatter)
    reader_arg(sp)
    sp.add_argument("file", help="SSSEEF06, DF01EF06, … (the list below)")
    sp.add_argument("tag", help="item tag (hex, e.g. 09), tag:NN for the NN-th record of a repeated tag (79:02) or "
                               "name (e.g. name)")
    sp.add_argument("value")
    sp.set_defaults(func=cmd_write)


def resolve_item(file: str, tag: str) -> tuple[str, Item]:
    """The file's pFileAddr name and the item ``tag`` (hex tag, ``tag:NN`` or name) names; ``ValueError`` listing
    the valid files or items otherwise."""
    files = writable_files()
    name = file.strip().upper().replace("/", "")
    for alias in ("3F00", "MF"):
        if name.startswith(alias + "EF"):
            name = "SSSE" + name[len(alias):]
    ef = files.get(name)
    if ef is None:
        raise ValueError(f"write: no writable file {file!r}; files: {', '.join(files)}")
    try:
        return name, ef.lookup(tag)
    except KeyError:
        pass
    valid = ", ".join(f"{ef.address(it)} {it.name}" for it in ef.items)
    raise ValueError(f"write: {name} has no item {tag!r}; items: {valid}")


def cmd_write(args: argparse.Namespace) -> int:
    from host.standard.formats import check_no_separators
    path, item = resolve_item(args.file, args.tag)
    check_no_separators(args.value, f"{path} {item.name}")   # read back, it would add interface fields
    item.check(args.value)                                     # ItemValueError names the item: exit 2
    term = open_terminal(args.reader)
    try:
        try:
            term.write_item(path, item.name, args.value)
        except KeyError as exc:      # a card of another generation (a gen1 card has no name extension)
            raise ValueError(f"write: this card has no {path} item {item.name} ({exc.args[0]})") from None
    finally:
        term.close()
    print(f"{path} {item.name} written")
    return EXIT_OK
