"""``sscard shell``: an interactive card explorer (stdlib ``cmd`` + ``readline``), and a script runner.

Commands: ``ls [EF]``, ``cd DF|..|/``, ``cat EF [item|record]`` (records decoded by the card profile,
docs/sources.md §2.2), ``verify [PIN]``, ``tries``, ``auth KEYID`` (external authentication through the PSAM), ``auth card``
(internal authentication checked by the PSAM), ``apdu [--psam] HEX…``, ``atr``, ``reset``, ``exit``.
Files may be written ``EF05`` (in the current DF), ``SSSE/EF05`` or ``SSSEEF05``. Tab completes commands,
DFs and files; history is kept in ``~/.sscard_history`` (``$SSCARD_HISTORY``), without the lines that may
hold a PIN (``verify``/``change``/``unblock``/``reload``, and APDUs whose INS is 20, 24, 5E, FA or C4, the PKI
application's PIN DIGEST).

Any line may end with ``--expect-sw SW`` (4 hex digits, ``X`` = any digit: ``63CX``): the status word of the
last APDU the line sent must match. ``sscard shell --script FILE`` runs a file of such lines (``#`` comments):
it stops at the first line that fails — an expectation not met, or, without an expectation, a command
that fails — prints ``FILE:LINE: why`` and exits 1; an unknown command or bad syntax exits 2. Exit 0 when
every line passed.
"""
from __future__ import annotations

import cmd
import getpass
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from host import errors as E
from host.card import check
from host.cli.columns import pad
from host.cli.options import reader_arg
from host.engine import ApduEngine
from host.terminal import Terminal
from protocols import sw as SW
from protocols.apdu import hex_problem
from protocols.profile import BinaryFile, DFSpec, EF, RecordFile

EXIT_OK, EXIT_FAILED, EXIT_SYNTAX = 0, 1, 2
HISTORY = Path(os.environ.get("SSCARD_HISTORY", str(Path.home() / ".sscard_history")))
_SW_PATTERN = re.compile(r"^[0-9A-FX]{4}$")


#: Commands whose arguments may be PINs, and INS bytes of APDUs that carry a PIN or PIN block (VERIFY, PIN
#: UNBLOCK/RELOAD, CHANGE PIN) or a PSAM encipher/MAC input that may hold one (80 FA).
_PIN_COMMANDS = frozenset({"verify", "change", "unblock", "reload", "pin"})
_PIN_INS = frozenset({"20", "24", "5E", "FA", "C4"})


def holds_pin(line: str) -> bool:
    """Whether a shell line may hold a PIN (such lines are kept out of the history file)."""
    words = line.split()
    if not words:
        return False
    if words[0].lower() in _PIN_COMMANDS:
        return True
    if words[0].lower() != "apdu":
        return False
    hex_words = [w for w in words[1:] if not w.startswith("-")]
    return any(len(w) >= 4 and w[2:4].upper() in _PIN_INS for w in [*hex_words, "".join(hex_words)])


def _forget(readline: Any, keep: Callable[[str], bool]) -> None:
    """Remove the history lines ``keep`` refuses (newest first, so positions stay valid)."""
    for i in reversed(range(readline.get_current_history_length())):
        item = readline.get_history_item(i + 1)     # 1-based, remove_history_item is 0-based
        if item is not None and not keep(item):
            readline.remove_history_item(i)


class ShellSyntaxError(ValueError):
    """A line the shell cannot parse (unknown command, bad hex, missing argument)."""


def sw_matches(pattern: str, sw: int) -> bool:
    text = f"{sw:04X}"
    return all(p in ("X", t) for p, t in zip(pattern.upper(), text))


def sw_text(sw: int) -> str:
    en, zh = SW.meaning(sw)
    return f"{sw:04X} ({en} / {zh})"


class CardShell(cmd.Cmd):
    intro = "sscard shell — 'help' lists commands, Tab completes, 'exit' leaves."

    def __init__(self, term: Terminal, stdout: IO[str] | None = None, interactive: bool = True) -> None:
        super().__init__(stdout=stdout or sys.stdout)
        self.term = term
        self.card = term.card
        self.interactive = interactive
        self.last_sw: int | None = None
        self.error: BaseException | None = None
        self.stopped = False
        for engine in (term.card.engine, term.psam.engine if term.psam else None):
            if engine is not None:
                engine.trace = self._chain(engine.trace)
        self.term.connect()
        self._update_prompt()

    # --- plumbing --------------------------------------------------------------------------------------------
    def _chain(self, previous):
        def hook(apdu: bytes, rsp: bytes, seconds: float) -> None:
            self.last_sw = (rsp[-2] << 8) | rsp[-1]
            if previous is not None:
                previous(apdu, rsp, seconds)
        return hook

    def _out(self, text: str = "") -> None:
        self.stdout.write(text + "\n")

    def _update_prompt(self) -> None:
        df = self.card.current_df
        self.prompt = f"sscard:/{df.name if df else ''}> "

    def run_line(self, line: str) -> tuple[bool, str | None]:
        """Run one line; returns (ok, why-not). Raises ShellSyntaxError for lines it cannot parse."""
        words = line.split()
        expect = None
        if "--expect-sw" in words:
            i = words.index("--expect-sw")
            if i + 1 >= len(words) or not _SW_PATTERN.match(words[i + 1].upper()):
                raise ShellSyntaxError("--expect-sw takes 4 hex digits (X = any), e.g. 9000 or 63CX")
            expect = words[i + 1].upper()
            line = " ".join(words[:i] + words[i + 2:])
        name = line.split()[0] if line.split() else ""
        if name and not hasattr(self, f"do_{name}"):
            raise ShellSyntaxError(f"unknown command {name!r} (help lists them)")
        self.last_sw = None
        self.error = None
        stop = self._dispatch(line)
        self.stopped = bool(stop)
        self._update_prompt()
        if expect is not None:
            if self.last_sw is None:
                return False, f"expected SW {expect}, but the line sent no APDU"
            if not sw_matches(expect, self.last_sw):
                return False, f"expected SW {expect}, got {sw_text(self.last_sw)}"
            return True, None
        if self.error is not None:
            return False, str(self.error)
        return True, None

    def onecmd(self, line: str) -> bool:
        """What ``cmdloop`` runs: the line, then its ``--expect-sw`` verdict if it has one."""
        if "--expect-sw" not in line.split():
            return self._dispatch(line)
        try:
            ok, why = self.run_line(line)
        except ShellSyntaxError as exc:
            self._out(f"error: {exc}")
            return False
        self._out("expectation met" if ok else f"expectation FAILED: {why}")
        return self.stopped

    def _dispatch(self, line: str) -> bool:
        try:
            return super().onecmd(line)
        except ShellSyntaxError as exc:
            if not self.interactive:
                raise
            self._out(f"error: {exc}")
            return False
        except (E.SSCardError, ValueError, KeyError) as exc:
            self.error = exc
            self._out(f"error: {exc}" + self._hint(exc))
            return False

    def _hint(self, exc: BaseException) -> str:
        if isinstance(exc, E.CardError) and exc.sw == 0x6982:
            return " — authenticate first (auth KEYID, or verify PIN)"
        return ""

    def default(self, line: str) -> None:
        raise ShellSyntaxError(f"unknown command {line.split()[0]!r} (help lists them)")

    def emptyline(self) -> bool:
        return False

    def precmd(self, line: str) -> str:
        """Take a line that may hold a PIN back out of readline's history (``input`` has just added it)."""
        if self.interactive and holds_pin(line):
            try:
                import readline
            except ImportError:  # pragma: no cover - platforms without readline
                return line
            n = readline.get_current_history_length()
            if n and readline.get_history_item(n) == line:
                readline.remove_history_item(n - 1)
        return line

    def postcmd(self, stop: bool, line: str) -> bool:
        self._update_prompt()
        return stop

    # --- files -----------------------------------------------------------------------------------------------
    def _df(self, name: str) -> DFSpec:
        try:
            return self.card.profile.df(name.upper())
        except KeyError:
            raise ShellSyntaxError(f"no DF {name!r} in profile {self.card.profile.name}") from None

    def _file(self, ref: str) -> tuple[DFSpec, EF]:
        ref = ref.upper()
        if "/" in ref or len(ref) > 4:
            try:
                df, ef = self.card.profile.find_file(ref)
            except KeyError:
                raise ShellSyntaxError(f"no file {ref!r} in profile {self.card.profile.name}") from None
            self.card.enter(df.name)
            return df, ef
        current = self.card.current_df
        if current is None:
            raise ShellSyntaxError("cd into a DF first (cd SSSE), or write SSSE/EF05")
        try:
            return current, current.ef(ref)
        except KeyError:
            raise ShellSyntaxError(f"{df.name} has no file {ref!r}") from None

    def do_cd(self, arg: str) -> None:
        """cd DF | .. | /  — select a DF by name (SSSE, DF01 …) or go back to the MF."""
        target = arg.strip()
        if target in ("", "/", "..", "MF", "3F00"):
            self.card.send(0x00, 0xA4, 0x00, 0x00, b"\x3F\x00")
            self.card.current_df = None
            return
        fci = self.card.select_df(self._df(target.strip("/")).name)
        df = self.card.current_df
        assert df is not None
        self._out(f"{df.name} {df.title}  AID {df.aid.hex().upper()}  profile {self.card.profile.name}"
                  + (f"  FCI {fci.hex().upper()}" if fci else ""))

    def do_ls(self, arg: str) -> None:
        """ls [EF]  — the DFs (at the MF), the files of the current DF, or the items of one file."""
        if arg.strip():
            _, ef = self._file(arg.strip())
            if isinstance(ef, BinaryFile):
                self._out(f"{ef.name} {ef.title}: transparent, {ef.size} bytes, read {ef.read}, update {ef.update}")
                return
            for n, it in enumerate(ef.items, 1):
                self._out(f"{n:>3}  tag {it.tag:02X}  {it.name:<22} {pad(it.title, 20)} {it.fmt.value}{it.length}")
            if ef.cyclic_records:
                self._out(f"cyclic: {ef.cyclic_records} records of {ef.record_size} bytes")
            return
        df = self.card.current_df
        if df is None:
            for d in self.card.profile.dfs:
                self._out(f"{d.name:<5} {d.aid.hex().upper():<32} {d.title}")
            return
        for f in df.files:
            kind = "binary" if isinstance(f, BinaryFile) else ("cyclic" if f.cyclic_records else "records")
            self._out(f"{f.name}  SFI {f.sfi:02X}  {kind:<7}  read {str(f.read):<14} update {str(f.update):<10} {f.title}")

    def do_cat(self, arg: str) -> None:
        """cat EF [item|record]  — read a file's records, decoded (item by name, tag or record number)."""
        words = arg.split()
        if not words:
            raise ShellSyntaxError("cat needs a file, e.g. cat EF05")
        _, ef = self._file(words[0])
        card = self.card
        if isinstance(ef, BinaryFile):
            data = card.read_binary(ef).rstrip(b"\x00")
            kind = "JPEG" if data[:2] == b"\xFF\xD8" else "data"
            self._out(f"{ef.name} {ef.title}: {kind}, {len(data)} bytes: {data[:32].hex().upper()}"
                      + ("…" if len(data) > 32 else ""))
            return
        if ef.cyclic_records:
            for n in range(1, ef.cyclic_records + 1):
                rsp = card.send(0x00, 0xB2, n, (ef.sfi << 3) | 4, le=256)
                if rsp.sw == 0x6A83:
                    break
                self._out(f"{n:>3}  {check(rsp).hex().upper()}")
            return
        items = list(ef.items)
        if len(words) > 1:
            sel = words[1]
            if sel.isdigit() and 1 <= int(sel) <= len(items) and len(sel) < 3:
                items = [items[int(sel) - 1]]
            else:
                try:
                    items = [ef.item(int(sel, 16) if re.fullmatch(r"[0-9A-Fa-f]{2}", sel) else sel)]
                except KeyError:
                    raise ShellSyntaxError(f"{ef.name} has no item {sel!r}") from None
        for it in items:
            value = it.decode_value(card.read_item_raw(ef, it))
            self._out(f"{ef.items.index(it) + 1:>3}  {it.tag:02X}  {pad(it.title, 16)} {it.name:<16} {value}")

    def complete_cd(self, text: str, line: str, begidx: int, endidx: int) -> list[str]:
        return [d.name for d in self.card.profile.dfs if d.name.startswith(text.upper())] + (
            [".."] if "..".startswith(text) else [])

    def complete_cat(self, text: str, line: str, begidx: int, endidx: int) -> list[str]:
        if len(line[:begidx].split()) > 1:
            df = self.card.current_df
            words = line.split()
            with_ef = df.ef(words[1].upper()) if df is not None and self._has(df, words[1]) else None
            if isinstance(with_ef, RecordFile):
                return [it.name for it in with_ef.items if it.name.startswith(text)]
            return []
        df = self.card.current_df
        names = [f.name for f in df.files] if df is not None else [
            f"{d.name}/{f.name}" for d in self.card.profile.dfs for f in d.files]
        return [n for n in names if n.startswith(text.upper())]

    complete_ls = complete_cat

    @staticmethod
    def _has(df: DFSpec, name: str) -> bool:
        try:
            df.ef(name.upper())
            return True
        except KeyError:
            return False

    # --- security ------------------------------------------------------------------------------------------
    def do_verify(self, arg: str) -> None:
        """verify [PIN]  — VERIFY the holder's PIN in the current DF (prompted when not given)."""
        if self.card.current_df is None:
            self.card.select_df("SSSE")
        pin = arg.strip()
        if not pin:
            if not self.interactive:
                raise ShellSyntaxError("verify needs the PIN on the line in a script")
            pin = getpass.getpass("PIN: ")
        try:
            self.card.verify_pin(pin)
        except E.WrongPin as exc:
            self.error = exc
            self._out(f"wrong PIN, {exc.tries_left} tries left")
            return
        self._out("PIN verified")

    def do_tries(self, arg: str) -> None:
        """tries  — PIN tries left."""
        if self.card.current_df is None:
            self.card.select_df("SSSE")
        self._out(str(self.card.pin_tries_left()))

    def do_auth(self, arg: str) -> None:
        """auth KEYID | auth card  — external authentication with the current DF's key KEYID (hex), or the
        card's internal authentication, both computed by the PSAM."""
        word = arg.strip().lower()
        if self.card.current_df is None:
            raise ShellSyntaxError("cd into a DF first (cd SSSE)")
        if word == "card":
            self.term.authenticate_card()
            self._out("card authenticated (internal authentication checked by the PSAM)")
            return
        if not re.fullmatch(r"[0-9a-f]{1,2}", word):
            raise ShellSyntaxError("auth takes a key ID in hex (e.g. auth 0A) or 'card'")
        self.term.authenticate_terminal(int(word, 16))
        self._out(f"external authentication with key {int(word, 16):02X} passed")

    # --- raw -----------------------------------------------------------------------------------------------
    def do_apdu(self, arg: str) -> None:
        """apdu [--psam] HEX…  — send APDUs (GET RESPONSE / 6Cxx handled); prints data and the SW meaning."""
        words = arg.split()
        engine: ApduEngine = self.card.engine
        if words and words[0] == "--psam":
            if self.term.psam is None:
                raise E.NoPsam("this reader has no PSAM slot")
            engine, words = self.term.psam.engine, words[1:]
            self.term.psam.lost_track()
        if not words:
            raise ShellSyntaxError("apdu needs a command in hex, e.g. apdu 00B2072C00")
        for n, word in enumerate(words, 1):
            try:
                raw = bytes.fromhex(word)
            except ValueError:   # the word may be a PIN APDU: say where, never what
                raise ShellSyntaxError(f"APDU {n} is not hex ({hex_problem(word)})") from None
            try:
                rsp = engine.transmit(raw)
            except E.MalformedApdu as exc:
                raise ShellSyntaxError(str(exc)) from None
            if engine is self.card.engine and len(raw) > 4 and raw[1] == 0xA4:
                self._follow_select(raw, rsp.sw)
            self._out((rsp.data.hex().upper() + " " if rsp.data else "") + sw_text(rsp.sw))

    def _follow_select(self, raw: bytes, sw: int) -> None:
        if sw not in (0x9000, 0x6283) or raw[2] != 0x04:
            return
        data = raw[5:5 + raw[4]]
        self.card.current_df = next((d for d in self.card.profile.dfs if d.aid == data), None)

    def do_atr(self, arg: str) -> None:
        """atr  — the card's answer to reset."""
        self._out(self.card.atr.hex().upper())

    def do_reset(self, arg: str) -> None:
        """reset  — power the card off and on (security state is lost)."""
        self.term.card_reader.disconnect()
        self.card.current_df = None
        self._out(self.card.engine.connect().hex().upper())

    def do_exit(self, arg: str) -> bool:
        """exit  — leave the shell."""
        return True

    do_quit = do_exit

    def do_EOF(self, arg: str) -> bool:
        self._out()
        return True


# --- entry points ------------------------------------------------------------------------------------------
def run_script(shell: CardShell, path: str, err: IO[str] | None = None) -> int:
    """Run a script; exit code 0 all passed, 1 a line failed, 2 a line could not be parsed."""
    err = err or sys.stderr
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        print(f"sscard shell: {exc}", file=err)
        return EXIT_SYNTAX
    checked = 0
    for lineno, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        shell.stdout.write(f"{shell.prompt}{line}\n")
        try:
            ok, why = shell.run_line(line)
        except ShellSyntaxError as exc:
            print(f"{path}:{lineno}: {exc}", file=err)
            return EXIT_SYNTAX
        if not ok:
            print(f"{path}:{lineno}: {why}  [{line}]", file=err)
            return EXIT_FAILED
        checked += "--expect-sw" in line.split()
        if shell.stopped:
            break
    shell.stdout.write(f"{path}: all lines passed ({checked} SW expectation(s))\n")
    return EXIT_OK


def interactive(shell: CardShell) -> int:
    try:
        import readline
    except ImportError:  # pragma: no cover - platforms without readline
        readline = None  # type: ignore[assignment]  # None marks a platform without readline
    if readline is not None:
        readline.set_completer_delims(" \t")
        try:
            readline.read_history_file(HISTORY)
        except OSError:
            pass
        _forget(readline, lambda item: not holds_pin(item))    # lines an older version kept
    try:
        while True:
            try:
                shell.cmdloop()
                break
            except KeyboardInterrupt:
                shell.intro = ""
                shell._out("^C")
    finally:
        if readline is not None:
            try:
                readline.set_history_length(1000)
                readline.write_history_file(HISTORY)
            except OSError:
                pass
    return EXIT_OK


def cmd_shell(args: object) -> int:
    from host.spec import open_terminal
    term = open_terminal(getattr(args, "reader", None))
    try:
        script = getattr(args, "script", None)
        shell = CardShell(term, interactive=script is None)
        return run_script(shell, script) if script else interactive(shell)
    finally:
        term.close()


def add_parser(sub: Any) -> None:
    sp = sub.add_parser(
        "shell", help="interactive card shell (ls/cd/cat/verify/apdu); --script runs a file",
        description="Lines may end with --expect-sw SW (X = any hex digit). --script exits 0 when every line "
                    "passed, 1 at the first failing line (named as FILE:LINE), 2 for a line it cannot parse.")
    reader_arg(sp)
    sp.add_argument("--script", metavar="FILE", help="run FILE non-interactively (exit 1 naming the failing line)")
    sp.set_defaults(func=cmd_shell)

