"""`python -m simulators {hotline,message_board,all}`: serve partner stand-ins on loopback.

`all` runs both partners in one process, each on its own port, for the demo and docker-compose.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import signal
import socket
from typing import Any

from simulators.generator import DEFAULT_RECORDS
from simulators.records import parse_anchor
from simulators.serving import DEFAULT_PORTS, ReadyServer, bind, create_app, server


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m simulators", description=__doc__)
    parser.add_argument("partner", choices=("hotline", "message_board", "all"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, help="port of a single partner "
                        "(default: hotline 8101, message_board 8102)")
    parser.add_argument("--records", type=int, help="records of a single partner "
                        "(default: hotline 400, message_board 200)")
    parser.add_argument("--hotline-port", type=int, default=DEFAULT_PORTS["hotline"])
    parser.add_argument("--message-board-port", type=int, default=DEFAULT_PORTS["message_board"])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--defect-rate", type=float, default=0.05)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--anchor", type=parse_anchor, help="end of the data span, ISO date or "
                        "time (default: today 00:00 Asia/Shanghai)")
    parser.add_argument("--var-dir", default="var")
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    if args.partner == "all" and (args.port is not None or args.records is not None):
        parser.error("with 'all', use --hotline-port and --message-board-port; --port and "
                     "--records are for a single partner")
    return args


def _plan(args: argparse.Namespace) -> list[tuple[str, int, int]]:
    """(partner, port, records) for each partner to run; `all` uses each partner's defaults."""
    if args.partner != "all":
        port = DEFAULT_PORTS[args.partner] if args.port is None else args.port
        records = DEFAULT_RECORDS[args.partner] if args.records is None else args.records
        return [(args.partner, port, records)]
    return [("hotline", args.hotline_port, DEFAULT_RECORDS["hotline"]),
            ("message_board", args.message_board_port, DEFAULT_RECORDS["message_board"])]


async def _serve(args: argparse.Namespace) -> None:
    common: dict[str, Any] = {"seed": args.seed, "defect_rate": args.defect_rate, "days": args.days,
                              "anchor": args.anchor, "var_dir": args.var_dir}
    running: list[tuple[ReadyServer, socket.socket]] = []
    for partner, port, records in _plan(args):
        app = create_app(partner, records=records, **common)
        sock = bind(args.host, port)
        line = f"{partner} ready on http://{args.host}:{sock.getsockname()[1]} ({records} records)"
        running.append((server(app, functools.partial(print, line, flush=True),
                               log_level=args.log_level, access_log=args.log_level == "info"), sock))

    def stop() -> None:
        for each, _ in running:
            each.should_exit = True

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop)
    try:
        await asyncio.gather(*(s.serve(sockets=[sock]) for s, sock in running))
    finally:
        for _, sock in running:
            sock.close()


def main(argv: list[str] | None = None) -> None:
    asyncio.run(_serve(_arguments(argv)))


if __name__ == "__main__":
    main()
