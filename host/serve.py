"""``sscard serve``: a local WebSocket bridge to the standard interface for browser counter pages (docs/sources.md §6).

Each text message is one request, ``{"function": "iReadCardBas", "iType": 3}`` (parameters named as in the
C prototypes: ``iType``, ``iAuthType``, ``pCardInfo``, ``pFileAddr``, ``pWriteData``, ``pKey``; an optional
``id`` is echoed), and gets one answer ``{"code": 0, "output": "…", "function": "…"}`` with the codes and
output strings of ``host.standard``. Vendor extras: ``iReadPhoto`` (``<base64 JPEG>|``), ``iGetReaderInfo``.

Safety: the bridge binds to loopback unless told otherwise (``allow_remote``), and refuses WebSocket
handshakes whose ``Origin`` is not a local page (no Origin, ``null`` for file:// pages, http(s) on
localhost/127.0.0.1/[::1]) or one listed with ``--origin``: any web site could otherwise read the card
through a bridge on the counter PC. Plain HTTP ``GET /`` serves the example counter page when one is set.
Calls run one at a time on one worker thread (readers' transactions belong to a thread).
"""
from __future__ import annotations

import asyncio
import ipaddress
import json
import re
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any

from host import errors as E
from host.standard import SSCardDriver, call, failure

if TYPE_CHECKING:  # websockets is imported when the bridge runs, not whenever the CLI starts
    from websockets.asyncio.server import Server, ServerConnection
    from websockets.http11 import Request, Response

DEFAULT_PORT = 13526
LOCAL_ORIGIN = re.compile(r"^https?://(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$")
EXAMPLE_PAGE = Path(__file__).resolve().parent.parent / "examples" / "counter.html"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class Bridge:
    """Answers requests with one driver; ``page`` is served for ``GET /``."""

    driver: SSCardDriver
    page: Path | None = None
    extra_origins: tuple[str, ...] = ()
    executor: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1, "sscard-bridge"))

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

    # --- HTTP side: the page, and the Origin check --------------------------------------------------------------
    def origin_ok(self, origin: str | None) -> bool:
        return origin is None or origin == "null" or bool(LOCAL_ORIGIN.match(origin)) or origin in self.extra_origins

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.headers.get("Upgrade", "").lower() != "websocket":
            path = request.path.split("?", 1)[0]
            if self.page is not None and path in ("/", "/counter.html"):
                return _response(HTTPStatus.OK, self.page.read_bytes(), "text/html; charset=utf-8")
            return _response(HTTPStatus.NOT_FOUND, b"sscard bridge: WebSocket on this port\n", "text/plain")
        if not self.origin_ok(request.headers.get("Origin")):
            return _response(HTTPStatus.FORBIDDEN, b"origin not allowed (sscard serve --origin ...)\n", "text/plain")
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
    return serve(bridge.handler, host, port, process_request=bridge.process_request,  # type: ignore[return-value]
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
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}/"

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


# --- the command -------------------------------------------------------------------------------------------------
def add_parser(sub: Any, reader_arg: Any) -> None:
    sp = sub.add_parser("serve", help="WebSocket bridge to the standard interface for browser counter pages",
                        description="Serve {\"function\":\"iReadCardBas\",\"iType\":3}-style requests on "
                                    f"ws://127.0.0.1:{DEFAULT_PORT}/ (and the example counter page at http://…/).")
    reader_arg(sp)
    sp.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    sp.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT}; 0 = any)")
    sp.add_argument("--allow-remote", action="store_true", help="allow a non-loopback --host (the card is exposed!)")
    sp.add_argument("--origin", action="append", default=[], metavar="ORIGIN",
                    help="also accept pages from ORIGIN (e.g. https://counter.example.gov.cn); repeatable")
    sp.add_argument("--page", metavar="HTML", help="page served at / (default: examples/counter.html if present)")
    sp.add_argument("--no-page", action="store_true", help="serve no page")
    sp.add_argument("--device-number", default="", help="终端设备号 reported by iReadCardBas")
    sp.set_defaults(func=cmd_serve)


def cmd_serve(args: Any) -> int:
    from host.standard import SSCardDriver
    if not args.allow_remote and not is_loopback(args.host):
        raise ValueError(f"refusing to serve on non-loopback address {args.host!r} without --allow-remote")
    page = None if args.no_page else Path(args.page) if args.page else (EXAMPLE_PAGE if EXAMPLE_PAGE.is_file() else None)
    if page is not None and not page.is_file():
        raise ValueError(f"no page at {page}")
    bridge = Bridge(SSCardDriver(args.reader, device_number=args.device_number), page, tuple(args.origin))

    def ready(server: Server) -> None:
        host, port = server.sockets[0].getsockname()[:2]
        print(f"sscard bridge on ws://{host}:{port}/" + (f" (counter page: http://{host}:{port}/)" if page else ""),
              flush=True)

    try:
        asyncio.run(serve_forever(bridge, args.host, args.port, args.allow_remote, ready=(ready,)))
    except KeyboardInterrupt:
        pass
    finally:
        bridge.close()
    return 0
