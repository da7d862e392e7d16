"""The ``hub`` command line. Every verb takes ``-c hub.yaml``.

    hub serve -c hub.yaml [--centrifugo]     run the proxy service until SIGTERM/SIGINT
    hub check -c hub.yaml                    validate a config (exit 2 when wrong)
    hub centrifugo config|run|path           Centrifugo's config, process, binary
    hub token -c hub.yaml USER [--ttl S] [--channel C]   print a connection (or subscription) JWT
    hub publish -c hub.yaml CHANNEL [JSON|-]  publish one value, or JSON lines from stdin
    hub workers -c hub.yaml [--json]         the running service's pooled workers
    hub reset -c hub.yaml                    replace the workers one by one (also: SIGHUP)

Signals are handled here and only here: the first SIGTERM/SIGINT starts an
ordered shutdown, a second one forces exit; SIGHUP replaces the workers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence

from hub.centrifugo import VERSION, BinaryNotFound, find_binary, render
from hub.proxy import run_listeners

from .centrifugo_process import write_config
from .errors import HubError
from .loader import import_app
from .pool.control import ask, control_path, table
from .publishing import publisher_for
from .service import Service
from .settings import Settings, load

log = logging.getLogger("hub")
Runner = Callable[[argparse.Namespace], int]
EXIT_CONFIG = 2


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hub`` console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return EXIT_CONFIG
    sys.path.insert(0, os.getcwd())  # so `app: demo.app:app` imports from the project
    try:
        code: int = args.run(args)
    except HubError as exc:
        print(f"hub: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except BinaryNotFound as exc:
        print(f"hub: {exc}", file=sys.stderr)
        return 1
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hub", description="A real-time hub on Centrifugo.")
    verbs = parser.add_subparsers(title="commands", metavar="COMMAND")

    def verb(
        name: str, run: Runner, help: str, sub: argparse._SubParsersAction[argparse.ArgumentParser] = verbs
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.add_argument("-c", "--config", default="hub.yaml", help="config file (default: hub.yaml)")
        p.set_defaults(run=run)
        return p

    serve = verb("serve", _serve, "run the proxy service until SIGTERM/SIGINT")
    serve.add_argument("--centrifugo", action="store_true", help="also run the pinned Centrifugo")
    verb("check", _check, "validate a config file (exit 2 when wrong)")
    workers = verb("workers", _workers, "show the running service's pooled workers")
    workers.add_argument("--json", action="store_true", help="print the raw status as JSON")
    verb("reset", _reset, "replace the running service's workers one by one, failing no call")
    centrifugo = verbs.add_parser("centrifugo", help="Centrifugo's config, process and binary")
    cverbs = centrifugo.add_subparsers(title="commands", metavar="COMMAND", required=True)
    verb("config", _centrifugo_config, "print Centrifugo's config rendered from hub.yaml", cverbs)
    verb("run", _centrifugo_run, "run the pinned Centrifugo with the rendered config", cverbs)
    verb("path", _centrifugo_path, "print the path of the Centrifugo binary in use", cverbs)
    token = verb("token", _token, "print a connection JWT for USER (a subscription JWT with --channel)")
    token.add_argument("user", metavar="USER", help='the user id ("" for anonymous)')
    token.add_argument("--ttl", type=float, default=3600, metavar="S", help="lifetime in seconds (3600)")
    token.add_argument("--channel", metavar="C", help="mint a subscription token for channel C")
    publish = verb("publish", _publish, "publish one JSON value, or JSON lines from stdin, to CHANNEL")
    publish.add_argument("channel", metavar="CHANNEL")
    publish.add_argument("json", metavar="JSON", nargs="?", default="-", help="the value; '-' or none: stdin")
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    settings = load(args.config)
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return settings


def _serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    app = import_app(settings.app)
    service = Service(settings, app, with_centrifugo=args.centrifugo, config=args.config)
    return run_listeners(_serve_until_signal(settings, service))


async def _serve_until_signal(settings: Settings, service: Service) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal(sig: signal.Signals) -> None:
        if stop.is_set():
            log.warning("second %s: exiting now", sig.name)
            os._exit(1)
        log.info("%s: shutting down (send again to force)", sig.name)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)
    loop.add_signal_handler(signal.SIGHUP, service.reset_soon)
    async with service:
        p = settings.proxy
        log.info(
            "hub ready: proxy http://%s:%d%s (Centrifugo calls it over %s)",
            p.host, p.http_port, f", grpc://{p.host}:{p.grpc_port}" if p.grpc_port else "", p.transport,
        )  # fmt: skip
        await stop.wait()
    log.info("stopped")
    return 0


def _workers(args: argparse.Namespace) -> int:
    status = ask(control_path(args.config), "workers", timeout=10)
    print(json.dumps(status) if args.json else table(status))
    return 0


def _reset(args: argparse.Namespace) -> int:
    reply = ask(control_path(args.config), "reset")
    print(f"replaced {reply['replaced']} workers")
    return 0


def _check(args: argparse.Namespace) -> int:
    settings = load(args.config)
    app = import_app(settings.app)
    usage = app.usage()
    try:
        binary = find_binary()
    except BinaryNotFound:
        print(f"{args.config}: ok (Centrifugo not found, so its config was not checked by it)")
        return 0
    path = write_config(settings, usage)
    try:
        result = subprocess.run(
            [str(binary), "checkconfig", "--strict", "-c", str(path)], capture_output=True, text=True
        )
    finally:
        path.unlink()
    if result.returncode != 0:
        problem = (result.stderr or result.stdout).strip()
        print(f"{args.config}: Centrifugo rejects the rendered config: {problem}", file=sys.stderr)
        return EXIT_CONFIG
    kinds = [k for k in ("connect", "refresh") if getattr(usage, k)] + sorted(usage.channel_patterns)
    kinds += ["rpc"] * bool(usage.rpc_namespaces)
    print(f"{args.config}: ok (app {settings.app} handles: {', '.join(kinds) or 'nothing'})")
    return 0


def _centrifugo_config(args: argparse.Namespace) -> int:
    settings = load(args.config)
    config = render(settings.centrifugo, settings.proxy, import_app(settings.app).usage())
    print(json.dumps(config, indent=2))
    return 0


def _centrifugo_run(args: argparse.Namespace) -> int:
    settings = load(args.config)
    binary = find_binary()
    path = write_config(settings, import_app(settings.app).usage())
    os.execv(binary, [str(binary), "-c", str(path)])


def _centrifugo_path(args: argparse.Namespace) -> int:
    print(find_binary())
    print(f"pinned version: {VERSION}", file=sys.stderr)
    return 0


def _token(args: argparse.Namespace) -> int:
    from .tokens import TokenMinter

    tokens = TokenMinter.from_settings(load(args.config).centrifugo)
    if args.channel:
        print(tokens.subscription(args.user, args.channel, ttl=args.ttl))
    else:
        print(tokens.connection(args.user, ttl=args.ttl))
    return 0


def _publish(args: argparse.Namespace) -> int:
    from .bulk import publish_lines, publish_one

    settings = load(args.config)
    if args.json != "-":
        return asyncio.run(publish_one(publisher_for(settings), args.channel, args.json))
    return asyncio.run(publish_lines(publisher_for(settings), args.channel, sys.stdin.buffer))
