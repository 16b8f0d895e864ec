"""``sscard serve``: run the WebSocket bridge of ``host.bridge`` on this machine until stopped (Ctrl-C).

Exit 0 when stopped, or after ``--show-token`` has printed the bridge token and the counter page's address;
2 for bad options (a non-loopback ``--host`` without ``--allow-remote``, a bad ``--allow-origin``, no page) or a
config file that cannot be used. The reader, the port and the device number not given here come from the config
file (``host.config``: ``reader``/``psam``, ``port``, ``device_number``; the reader from ``$SSCARD_READER`` first).
"""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

from host import config
from host.bridge import (DEFAULT_PORT, EXAMPLE_PAGE, TOKEN_PARAM, Bridge, is_loopback, load_token, normalise_origin,
                         serve_forever, token_path)
from host.cli.options import reader_arg
from host.standard import no_pin_entry
from protocols.pinpad import DEFAULT_TIMEOUT

if TYPE_CHECKING:  # websockets is imported when the bridge runs, not whenever the CLI starts
    from websockets.asyncio.server import Server


def add_parser(sub: Any) -> None:
    sp = sub.add_parser("serve", help="WebSocket bridge to the standard interface for browser counter pages",
                        description="Serve {\"function\":\"iReadCardBas\",\"iType\":3}-style requests on "
                                    f"ws://127.0.0.1:{DEFAULT_PORT}/ (and the example counter page at http://…/).")
    reader_arg(sp)
    sp.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    sp.add_argument("--port", type=int, default=None,
                    help=f"TCP port (default: port in sscard.toml, else {DEFAULT_PORT}; 0 = any)")
    sp.add_argument("--allow-remote", action="store_true", help="allow a non-loopback --host (the card is exposed!)")
    sp.add_argument("--allow-origin", "--origin", dest="origin", action="append", default=[], metavar="ORIGIN",
                    help="also accept pages from ORIGIN (e.g. https://counter.example.gov.cn; 'null' for "
                         "file:// pages and sandboxed frames); repeatable. The page needs the token too")
    sp.add_argument("--show-token", action="store_true",
                    help="print the bridge token and the counter page's address with it, then exit")
    sp.add_argument("--page", metavar="HTML", help="page served at / (default: examples/counter.html if present)")
    sp.add_argument("--no-page", action="store_true", help="serve no page")
    sp.add_argument("--device-number", default=None,
                    help="终端设备号 reported by iReadCardBas (default: device_number in sscard.toml)")
    sp.add_argument("--pin-timeout", type=int, default=2 * DEFAULT_TIMEOUT, metavar="S",
                    help="seconds for the holder's PIN, on the page or (per key) on the reader's PIN pad "
                         f"(default {2 * DEFAULT_TIMEOUT})")
    sp.set_defaults(func=cmd_serve)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def cmd_serve(args: Any) -> int:
    from host.standard import SSCardDriver
    if args.port is None or args.device_number is None:
        settings = config.load()
        args.port = args.port if args.port is not None else settings.port or DEFAULT_PORT
        args.device_number = args.device_number if args.device_number is not None else settings.device_number or ""
    if not args.allow_remote and not is_loopback(args.host):
        raise ValueError(f"refusing to serve on non-loopback address {args.host!r} without --allow-remote")
    origins = tuple(normalise_origin(o) for o in args.origin)
    token = load_token()
    if args.show_token:
        print(token)
        print(f"counter page: http://{_url_host(args.host)}:{args.port}/#{TOKEN_PARAM}={token}")
        return 0
    page = None if args.no_page else Path(args.page) if args.page else (EXAMPLE_PAGE if EXAMPLE_PAGE.is_file() else None)
    if page is not None and not page.is_file():
        raise ValueError(f"no page at {page}")
    driver = SSCardDriver(args.reader, pin_entry=no_pin_entry, device_number=args.device_number)
    bridge = Bridge(driver, page, origins, token, pin_timeout=args.pin_timeout)

    def ready(server: Server) -> None:
        host, port = server.sockets[0].getsockname()[:2]
        host = _url_host(host)
        print(f"sscard bridge on ws://{host}:{port}/" + (f" (counter page: http://{host}:{port}/)" if page else "")
              + f"; clients need the token in {token_path()} (sscard serve --show-token)", flush=True)

    try:
        asyncio.run(serve_forever(bridge, args.host, args.port, args.allow_remote, ready=(ready,)))
    except KeyboardInterrupt:
        pass
    finally:
        bridge.close()
    return 0
