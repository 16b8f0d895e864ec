"""A local WebSocket bridge to the standard interface for browser counter pages (docs/sources.md §6); the
``sscard serve`` command (``host.cli.serve``) runs it.

Each text message is one request, ``{"function": "iReadCardBas", "iType": 3}`` (parameters named as in the
C prototypes: ``iType``, ``iAuthType``, ``pCardInfo``, ``pFileAddr``, ``pWriteData``, ``pKey``; an optional
``id`` is echoed), and gets one answer ``{"code": 0, "output": "…", "function": "…"}`` with the codes and
output strings of ``host.standard``. Vendor extras: ``iReadPhoto`` (``<base64 JPEG>|``), ``iGetReaderInfo``.

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
"""
from __future__ import annotations

import asyncio
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
from host.standard import SSCardDriver, call, console_pin_entry, failure, no_pin_entry

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


@dataclass
class Bridge:
    """Answers requests with one driver; ``page`` is served for ``GET /``.

    The bridge never reads its console: a driver that would prompt there gets ``no_pin_entry`` instead, so a
    request needing a PIN fails at once with -31 and the other clients' requests go on."""

    driver: SSCardDriver
    page: Path | None = None
    extra_origins: tuple[str, ...] = ()
    token: str = field(default_factory=new_token)
    executor: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1, "sscard-bridge"))

    def __post_init__(self) -> None:
        self.extra_origins = tuple(normalise_origin(o) for o in self.extra_origins)
        if self.driver.pin_entry is console_pin_entry:
            self.driver.pin_entry = no_pin_entry
        if not self.token:
            raise ValueError("the bridge needs a token")

    # --- requests --------------------------------------------------------------------------------------------
    def answer(self, text: str | bytes) -> dict[str, Any]:
        """The reply to one message (runs on the worker thread)."""
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
        code, out = call(self.driver, message)
        reply: dict[str, Any] = {"code": code, "output": out, "function": message.get("function")}
        if "id" in message:
            reply["id"] = message["id"]
        return reply

    async def handler(self, ws: ServerConnection) -> None:
        from websockets.exceptions import ConnectionClosed
        loop = asyncio.get_running_loop()
        try:
            async for message in ws:
                reply = await loop.run_in_executor(self.executor, self.answer, message)
                await ws.send(json.dumps(reply, ensure_ascii=False))
        except ConnectionClosed:
            pass

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
