"""`python -m simulators PARTNER|all`: the partner stand-ins on loopback.

A partner the hub calls (hotline, message_board, urban_mgmt, and city_brain and
health_commission, which take the hub's pushes) is served until SIGINT/SIGTERM;
`all` serves every one of them in one process, each on its own port, for the demo and
docker-compose, and the community app's receiver of the hub's status callbacks with them. The
community app (neighborhood_app) sends: it pushes its reports to the hub's gateway as signed
webhooks and exits when they are delivered; with --serve it receives the callbacks instead.
Ports, record counts and demo credentials default to the partner manifest,
connectors/partners.toml.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import signal
import socket
import sys
from typing import Any

from simulators import district, neighborhood_app
from simulators.generator import DEFAULT_RECORDS
from simulators.records import parse_anchor
from simulators.serving import APP_FACTORIES, DEFAULT_PORTS, ReadyServer, bind, create_app, server


def _assignment(text: str) -> tuple[str, int]:
    partner, _, value = text.partition("=")
    if partner not in APP_FACTORIES or not value.isdigit():
        known = ", ".join(APP_FACTORIES)
        raise argparse.ArgumentTypeError(f"expected PARTNER=PORT with PARTNER one of {known}")
    return partner, int(value)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m simulators", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    partners = root.add_subparsers(dest="partner", required=True, metavar="PARTNER")
    for partner in (*APP_FACTORIES, "all"):
        one = partner != "all"
        if partner == neighborhood_app.PARTNER:
            serve = partners.add_parser(partner, help="send the community app's reports as webhooks, "
                                        "or with --serve take the hub's status callbacks")
            serve.add_argument("--serve", action="store_true",
                               help="listen for the hub's status callbacks instead of sending")
            neighborhood_app.add_arguments(serve)
        else:
            what = partner if one else "every partner the hub calls"
            serve = partners.add_parser(partner, help=f"serve {what}")
        serve.add_argument("--host", default="127.0.0.1")
        if one:
            serve.add_argument("--port", type=int, default=DEFAULT_PORTS[partner],
                               help=f"default {DEFAULT_PORTS[partner]}; 0 picks a free port")
            _add(serve, "--records", type=int, default=DEFAULT_RECORDS[partner],
                 help=f"default {DEFAULT_RECORDS[partner]}")
        else:
            serve.add_argument("--port", type=_assignment, action="append", default=[],
                               metavar="PARTNER=PORT",
                               help="a partner's port, repeatable (default: the manifest's)")
        _add(serve, "--seed", type=int, default=42)
        _add(serve, "--defect-rate", type=float, default=0.05)
        _add(serve, "--days", type=int, default=7)
        _add(serve, "--anchor", type=parse_anchor, help="end of the data span, ISO date or "
             "time (default: today 00:00 Asia/Shanghai)")
        serve.add_argument("--var-dir", default="var")
        serve.add_argument("--log-level", default="warning")
    platforms = partners.add_parser(district.PARTNER, help="run the 13 district platforms against the hub")
    district.add_arguments(platforms)
    return root


def _add(parser: argparse.ArgumentParser, flag: str, **settings: Any) -> None:
    """An option, unless the community app's sender options already define it (its --records
    defaults to what --count needs)."""
    try:
        parser.add_argument(flag, **settings)
    except argparse.ArgumentError:
        return


def _plan(args: argparse.Namespace) -> list[tuple[str, int, int]]:
    """(partner, port, records) for each partner to serve."""
    if args.partner != "all":
        records = DEFAULT_RECORDS[args.partner] if args.records is None else args.records
        return [(args.partner, args.port, records)]
    ports = {**DEFAULT_PORTS, **dict(args.port)}
    return [(partner, ports[partner], DEFAULT_RECORDS[partner]) for partner in APP_FACTORIES]


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


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.partner == neighborhood_app.PARTNER and not args.serve:
        return neighborhood_app.main_from_args(args)
    if args.partner == district.PARTNER:
        return district.main_from_args(args)
    asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
