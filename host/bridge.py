"""A local WebSocket bridge to the standard interface for browser counter pages (docs/sources.md §6); the
``sscard serve`` command (``host.cli.serve``) runs it.

Each text message is one request, ``{"function": "iReadCardBas", "iType": 3}`` (parameters named as in the
C prototypes: ``iType``, ``iAuthType``, ``pCardInfo``, ``pFileAddr``, ``pWriteData``, ``pKey``; an optional
``id`` is echoed), and gets one answer ``{"code": 0, "output": "…", "function": "…"}`` with the codes and
output strings of ``host.standard``. Vendor extras: ``iReadPhoto`` (``<base64 JPEG>|``; ``|`` when the card holds no
photo), ``iGetReaderInfo``.

Safety: any web page the counter PC opens could otherwise read and write the card through the bridge, so

* it binds to loopback unless told otherwise (``allow_remote``);
* a WebSocket handshake must carry the bridge's token, ``ws://127.0.0.1:13526/?token=…`` (401 otherwise).
  ``sscard serve`` keeps one per install in ``$XDG_CONFIG_HOME/sscard/bridge-token`` (mode 0600, made on
  first use; ``sscard serve --show-token`` prints it and the counter page's address with it);
* a handshake from a browser (which always sends ``Origin``) is refused (403) unless its Origin is the
  bridge's own page (``http://127.0.0.1:PORT``, ``localhost``, ``[::1]``) or one named with
  ``--allow-origin``. ``null`` (sandboxed iframes, file:// pages, data: URLs) and ``file://`` are refused
  unless named too. Clients that send no Origin are not browsers and only need the token.

Plain HTTP ``GET /`` serves the example counter page when one is set. Calls run one at a time on one
worker thread (readers' transactions belong to a thread).

PIN entry (iVerifyPIN, iChangePIN, iReadCard with iAuthType 1, iReloadPIN's new PIN). A card reader with a PIN
pad takes the PIN there (the bridge never sees it): the bridge tells the page
``{"type": "pin-pad", "request": <id>, "prompt": "current"|"new", "text": …, "timeout": s}`` and the answer comes
when the holder is done (-32 when the pad times out, -31 on its Cancel key). Without a pad the bridge asks the page
that sent the request, on the same WebSocket:
``{"type": "pin-request", "request": <id>, "pin_id": <random>, "prompt": "current"|"new"|"confirm", "text": …,
"timeout": s}``; the page answers ``{"type": "pin", "pin_id": …, "pin": "123456"}`` or ``{"type": "pin", "pin_id":
…, "cancel": true}`` (-31). No answer within ``pin_timeout`` s gives -32 (and ``{"type": "pin-cancel", "pin_id": …}``
so the page closes its pad); a page that goes away cancels (-31). A PIN answer is used once, for the request it
was asked for, only from the connection asked; it is never logged or echoed. A driver given its own ``PinEntry``
(tests, embedding applications) keeps it.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import hmac
import ipaddress
import json
import logging
import os
import re
import secrets
import tempfile
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, urlsplit

from host import errors as E
from host.standard import PinPrompt, SSCardDriver, call, console_pin_entry, failure, no_pin_entry
from protocols.pinpad import DEFAULT_TIMEOUT

if TYPE_CHECKING:  # websockets is imported when the bridge runs, not whenever the CLI starts
    from websockets.asyncio.server import Server, ServerConnection
    from websockets.http11 import Request, Response

DEFAULT_PORT = 13526
EXAMPLE_PAGE = Path(__file__).resolve().parent.parent / "examples" / "counter.html"
TOKEN_PARAM = "token"
_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
_ORIGIN = re.compile(r"^(null|file://|https?://[^/?#@\s]+)$")
log = logging.getLogger("sscard.serve")


# --- the token ---------------------------------------------------------------------------------------------------
def token_path() -> Path:
    """Where the per-install token lives: ``$XDG_CONFIG_HOME/sscard/bridge-token`` (~/.config by default)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "sscard" / "bridge-token"


def new_token() -> str:
    """A fresh random token (256 bits, hex: safe in URLs and fragments)."""
    return secrets.token_hex(32)


def load_token(path: Path | None = None) -> str:
    """The token stored at ``path`` (default :func:`token_path`), made on first use: a 0700 folder, a 0600
    file written whole before it appears. A file others may read, or that holds no token, is refused."""
    path = path or token_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".bridge-token-")   # mkstemp: mode 0600
        try:
            with os.fdopen(fd, "w", encoding="ascii") as fh:
                fh.write(new_token() + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, path)          # fails if another process made one meanwhile: use that one
            except FileExistsError:
                pass
        finally:
            os.unlink(tmp)
    mode = path.stat().st_mode
    if mode & 0o077:
        raise ValueError(f"{path}: the bridge token file may be read by others (mode {mode & 0o777:o}); "
                         f"chmod 600 it, or delete it to get a new token")
    token = path.read_text(encoding="ascii", errors="replace").strip()
    if not re.fullmatch(r"[0-9a-f]{32,}", token):
        raise ValueError(f"{path}: not a bridge token (delete the file to get a new one)")
    return token


def normalise_origin(text: str) -> str:
    """An origin as browsers send it: ``null``, ``file://`` or scheme://host[:port], lower case, no path."""
    origin = text.strip().lower()
    if origin != "file://":
        origin = origin.rstrip("/")
    if not _ORIGIN.match(origin):
        raise ValueError(f"not an origin (https://host[:port], null or file://): {text!r}")
    return origin


def own_origins(port: int) -> frozenset[str]:
    """The origins of the page the bridge serves itself on ``port``."""
    return frozenset(f"http://{host}" + ("" if port == 80 else f":{port}") for host in _LOOPBACK_NAMES)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class PagePin:
    """PIN entry on the page of one WebSocket connection (a ``PinEntry`` and a PIN-pad notice for the driver).

    Called on the worker thread; the answers arrive on the event loop (``answer``)."""

    def __init__(self, ws: ServerConnection, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        self.ws = ws
        self.loop = loop
        self.timeout = timeout
        self.request: object = None          # the id of the request being answered
        self._pending: dict[str, concurrent.futures.Future[str | None]] = {}
        self._closed = False

    def _send(self, message: dict[str, Any]) -> None:
        from websockets.exceptions import ConnectionClosed

        async def send() -> None:
            try:
                await self.ws.send(json.dumps(message, ensure_ascii=False))
            except ConnectionClosed:
                pass
        asyncio.run_coroutine_threadsafe(send(), self.loop)

    def __call__(self, prompt: PinPrompt) -> str | None:
        """Ask the page; the digits, None when the page cancels or has gone, ``PinEntryTimeout`` after ``timeout``."""
        if self._closed:
            return None
        pin_id = secrets.token_hex(16)
        future: concurrent.futures.Future[str | None] = concurrent.futures.Future()
        self._pending[pin_id] = future
        try:
            self._send({"type": "pin-request", "request": self.request, "pin_id": pin_id, "prompt": prompt.value,
                        "text": prompt.text.strip(" :："), "timeout": self.timeout})
            try:
                return future.result(self.timeout)
            except concurrent.futures.TimeoutError:
                self._send({"type": "pin-cancel", "pin_id": pin_id})
                raise E.PinEntryTimeout(f"no PIN from the page within {self.timeout:g} s") from None
        finally:
            self._pending.pop(pin_id, None)

    def pad_notice(self, prompt: PinPrompt) -> None:
        """The reader's PIN pad is about to ask the holder: tell the page to point there."""
        text = "请在密码键盘上输入密码 Enter the PIN on the PIN pad" if prompt is PinPrompt.CURRENT else \
            "请在密码键盘上输入原密码和新密码 Enter the current and the new PIN on the PIN pad"
        self._send({"type": "pin-pad", "request": self.request, "prompt": prompt.value, "text": text})

    def answer(self, message: dict[str, Any]) -> dict[str, Any] | None:
        """A ``{"type": "pin", …}`` message from the page (on the event loop); an error reply, or None."""
        future = self._pending.pop(str(message.get("pin_id")), None)
        if future is None or future.done():
            return {"type": "error", "error": "no PIN request is waiting for this answer"}
        pin = message.get("pin")
        if message.get("cancel") or not isinstance(pin, str):
            future.set_result(None)
        else:
            future.set_result(pin)
        return None

    def close(self) -> None:
        """The page went away: every question still open is cancelled (-31)."""
        self._closed = True
        for future in list(self._pending.values()):
            if not future.done():
                future.set_result(None)


@dataclass
class Bridge:
    """Answers requests with one driver; ``page`` is served for ``GET /``.

    The bridge never reads its console: a driver that would prompt there (``console_pin_entry``, or
    ``no_pin_entry``) asks the page instead (``PagePin``), with ``pin_timeout`` seconds for the answer; a reader's
    PIN pad waits as long per key. ``page_pin=False`` keeps such a driver refusing at once (-31)."""

    driver: SSCardDriver
    page: Path | None = None
    extra_origins: tuple[str, ...] = ()
    token: str = field(default_factory=new_token)
    executor: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1, "sscard-bridge"))
    pin_timeout: int = 2 * DEFAULT_TIMEOUT
    page_pin: bool = True

    def __post_init__(self) -> None:
        self.extra_origins = tuple(normalise_origin(o) for o in self.extra_origins)
        self._ask_page = self.page_pin and self.driver.pin_entry in (console_pin_entry, no_pin_entry)
        if self.driver.pin_entry is console_pin_entry:
            self.driver.pin_entry = no_pin_entry
        self.driver.pin_timeout = self.pin_timeout
        if not self.token:
            raise ValueError("the bridge needs a token")

    # --- requests --------------------------------------------------------------------------------------------
    def answer(self, text: str | bytes, pin: PagePin | None = None) -> dict[str, Any]:
        """The reply to one message (runs on the worker thread); ``pin``: the asking page's PIN entry."""
        if isinstance(text, bytes):
            code, out = failure(E.BadParameter("send JSON text messages, not binary ones"))
            return {"code": code, "output": out}
        try:
            message = json.loads(text)
        except ValueError:
            message = None
        if not isinstance(message, dict):
            code, out = failure(E.BadParameter('a request is a JSON object like {"function": "iReadCardBas", "iType": 3}'))
            return {"code": code, "output": out}
        driver = self.driver
        saved = driver.pin_entry, driver.pin_pad_notice
        if pin is not None:
            pin.request = message.get("id")
            driver.pin_pad_notice = pin.pad_notice
            if self._ask_page:
                driver.pin_entry = pin
        try:
            code, out = call(driver, message)
        finally:
            driver.pin_entry, driver.pin_pad_notice = saved
        reply: dict[str, Any] = {"code": code, "output": out, "function": message.get("function")}
        if "id" in message:
            reply["id"] = message["id"]
        return reply

    async def handler(self, ws: ServerConnection) -> None:
        from websockets.exceptions import ConnectionClosed
        loop = asyncio.get_running_loop()
        pin = PagePin(ws, loop, self.pin_timeout)
        running: set[asyncio.Task[None]] = set()

        async def run(message: str | bytes) -> None:
            reply = await loop.run_in_executor(self.executor, self.answer, message, pin)
            try:
                await ws.send(json.dumps(reply, ensure_ascii=False))
            except ConnectionClosed:
                pass

        try:
            async for message in ws:
                if _is_pin_answer(message):
                    error = pin.answer(json.loads(message))
                    if error is not None:
                        await ws.send(json.dumps(error))
                    continue
                task = asyncio.create_task(run(message))   # the worker takes requests in turn, in order
                running.add(task)
                task.add_done_callback(running.discard)
        except ConnectionClosed:
            pass
        finally:
            pin.close()

    # --- HTTP side: the page, the Origin and token checks ---------------------------------------------------------
    def origin_ok(self, origin: str | None, port: int) -> bool:
        """No Origin (not a browser), the bridge's own page on ``port``, or an origin named by the operator."""
        if origin is None:
            return True
        origin = origin.lower()
        return origin in self.extra_origins or origin in own_origins(port)

    def token_ok(self, path: str) -> bool:
        given = parse_qs(urlsplit(path).query).get(TOKEN_PARAM, [""])[-1]
        return hmac.compare_digest(given.encode("utf-8", "replace"), self.token.encode("ascii"))

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.headers.get("Upgrade", "").lower() != "websocket":
            path = request.path.split("?", 1)[0]
            if self.page is not None and path in ("/", "/counter.html"):
                return _response(HTTPStatus.OK, self.page.read_bytes(), "text/html; charset=utf-8")
            return _response(HTTPStatus.NOT_FOUND, b"sscard bridge: WebSocket on this port\n", "text/plain")
        origin = request.headers.get("Origin")
        if not self.origin_ok(origin, int(connection.local_address[1])):
            log.warning("refused a WebSocket handshake from origin %s (sscard serve --allow-origin)", origin)
            return _response(HTTPStatus.FORBIDDEN, b"origin not allowed (sscard serve --allow-origin ORIGIN)\n",
                             "text/plain")
        if not self.token_ok(request.path):
            log.warning("refused a WebSocket handshake without the bridge token (origin %s)", origin)
            return _response(HTTPStatus.UNAUTHORIZED,
                             b"the bridge token is missing or wrong (ws://HOST:PORT/?token=..., "
                             b"sscard serve --show-token)\n", "text/plain")
        return None

    def close(self) -> None:
        self.executor.submit(self.driver.close).result()
        self.executor.shutdown(wait=True)


def _is_pin_answer(message: str | bytes) -> bool:
    """A page's answer to a PIN request (``{"type": "pin", …}``), which never reaches the driver or a log."""
    if not isinstance(message, str) or '"pin"' not in message:
        return False
    try:
        parsed = json.loads(message)
    except ValueError:
        return False
    return isinstance(parsed, dict) and parsed.get("type") == "pin"


def _response(status: HTTPStatus, body: bytes, content_type: str) -> Response:
    from websockets.datastructures import Headers
    from websockets.http11 import Response
    headers = Headers([("Content-Type", content_type), ("Content-Length", str(len(body))),
                       ("Cache-Control", "no-store"), ("Connection", "close")])
    return Response(status.value, status.phrase, headers, body)


def start_server(bridge: Bridge, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
                 allow_remote: bool = False) -> Server:
    """The server (awaitable / async context manager) for the running loop."""
    from websockets.asyncio.server import serve
    if not allow_remote and not is_loopback(host):
        raise ValueError(f"refusing to serve on non-loopback address {host!r} without --allow-remote")
    return serve(bridge.handler, host, port, process_request=bridge.process_request,
                 max_size=1 << 20, compression=None)


async def serve_forever(bridge: Bridge, host: str, port: int, allow_remote: bool = False,
                        ready: Iterable[Any] = ()) -> None:
    async with start_server(bridge, host, port, allow_remote) as server:
        for callback in ready:
            callback(server)
        await server.serve_forever()


class BackgroundBridge:
    """The bridge on its own thread and event loop (tests, and applications embedding the bridge)."""

    def __init__(self, bridge: Bridge, host: str = "127.0.0.1", port: int = 0, allow_remote: bool = False) -> None:
        if not allow_remote and not is_loopback(host):
            raise ValueError(f"refusing to serve on non-loopback address {host!r} without allow_remote")
        self.bridge = bridge
        self.host = host
        self._loop = asyncio.new_event_loop()
        self._server: Server | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(port, allow_remote), daemon=True,
                                        name="sscard-bridge-loop")

    def _run(self, port: int, allow_remote: bool) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._server = self._loop.run_until_complete(self._create(port, allow_remote))
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._started.set()
            return
        self._started.set()
        self._loop.run_forever()

    async def _create(self, port: int, allow_remote: bool) -> Server:
        return await start_server(self.bridge, self.host, port, allow_remote)

    def start(self) -> BackgroundBridge:
        self._thread.start()
        self._started.wait()
        if self._error is not None:
            raise self._error
        return self

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def base_url(self) -> str:
        """The WebSocket address without the token (handshakes to it are refused)."""
        return f"ws://{self.host}:{self.port}/"

    @property
    def url(self) -> str:
        """The WebSocket address a client connects to: with the bridge's token."""
        return f"{self.base_url}?{TOKEN_PARAM}={quote(self.bridge.token)}"

    def stop(self) -> None:
        server = self._server
        if server is not None:
            async def _close() -> None:
                server.close()
                await server.wait_closed()
            asyncio.run_coroutine_threadsafe(_close(), self._loop).result()
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()
        self.bridge.close()

    def __enter__(self) -> BackgroundBridge:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
