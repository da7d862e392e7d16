"""The ``hub`` command line. Every verb takes ``-c hub.yaml``.

    hub init [DIR]                           start a project: app, hub.yaml with fresh secrets, a test
    hub serve -c hub.yaml [--centrifugo] [--reload] [--workers N] [--host H] [--port P]
              [--log-level L]                run the proxy service until SIGTERM/SIGINT
    hub check -c hub.yaml                    validate a config (exit 2 when wrong, every problem)
    hub centrifugo config|run|path           Centrifugo's config, process, binary
    hub token -c hub.yaml USER [--ttl S] [--channel C]   print a connection (or subscription) JWT
    hub publish -c hub.yaml CHANNEL [JSON|-]  publish one value, or JSON lines from stdin
    hub workers -c hub.yaml [--json]         the running service's pooled workers
    hub reset -c hub.yaml                    replace the workers one by one (also: SIGHUP)
    hub status -c hub.yaml                   listeners, workers, pipelines, publisher, Centrifugo
    hub --version                            the hub's version and the pinned Centrifugo's
    hub jobs push -c hub.yaml NAME [JSON] [--pipeline P] [--delay S] [--id ID]   push one job
    hub jobs stats|status ID|pause P|resume P|retry-dead P -c hub.yaml           see and steer pipelines

Every verb that reads hub.yaml also takes ``-o dotted.key=value`` (the value is
YAML) and ``--app-dir DIR`` (where ``app:`` is imported from; default: the
file's ``app_dir``, i.e. hub.yaml's folder), then the current directory.

Signals are handled here and only here: the first SIGTERM/SIGINT starts an
ordered shutdown, a second one forces exit; SIGHUP replaces the workers.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import msgspec

from hub.centrifugo.errors import BinaryNotFound

from .errors import HubError
from .pool.control import ask, control_path, table
from .pool.messages import Reset, ResetDone, Status, Workers

# Each verb imports what it needs when it runs: `hub workers` answers without loading
# the app runtime, grpc, aiohttp or yaml.
if TYPE_CHECKING:
    from .service import Service
    from .settings import Settings

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
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`hub centrifugo config | head`): not an error of ours.
        # Point stdout at /dev/null so the interpreter's last flush stays quiet too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except HubError as exc:
        for line in str(exc).splitlines():
            print(f"hub: {line}", file=sys.stderr)
        return EXIT_CONFIG
    except BinaryNotFound as exc:
        print(f"hub: {exc}", file=sys.stderr)
        return 1
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hub", description="A real-time hub on Centrifugo.")
    parser.add_argument("--version", action="version", version=_version())
    verbs = parser.add_subparsers(title="commands", metavar="COMMAND")

    def verb(
        name: str, run: Runner, help: str, sub: argparse._SubParsersAction[argparse.ArgumentParser] = verbs
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.add_argument(
            "-c", "--config", default=os.environ.get("HUB_CONFIG", "hub.yaml"),
            help="config file (default: $HUB_CONFIG, else hub.yaml)",
        )  # fmt: skip
        p.add_argument(
            "-o", dest="overrides", action="append", type=_override, default=[], metavar="KEY=VALUE",
            help="override a hub.yaml key (dotted, e.g. pool.workers=2; the value is YAML); repeatable",
        )  # fmt: skip
        p.add_argument("--app-dir", metavar="DIR", help="import the app from DIR (default: hub.yaml's dir)")
        p.set_defaults(run=run)
        return p

    init = verbs.add_parser("init", help="start a project: app, hub.yaml with fresh secrets, a first test")
    init.add_argument("dir", metavar="DIR", nargs="?", default=".", help="where (default: here)")
    init.set_defaults(run=_init)
    serve = verb("serve", _serve, "run the proxy service until SIGTERM/SIGINT")
    serve.add_argument("--centrifugo", action="store_true", help="also run the pinned Centrifugo")
    serve.add_argument(
        "--reload", action="store_true",
        help="replace the workers when the app's files change (one worker unless --workers says more)",
    )  # fmt: skip
    serve.add_argument("--workers", type=int, metavar="N", help="worker processes (pool.workers; 0: inline)")
    serve.add_argument("--host", metavar="H", help="the proxy's address (proxy.host)")
    serve.add_argument("--port", type=int, metavar="P", help="the proxy's HTTP port (proxy.http_port)")
    serve.add_argument("--log-level", choices=["debug", "info", "warning", "error"], help="(log_level)")
    verb("check", _check, "validate a config file (exit 2 when wrong)")
    workers = verb("workers", _workers, "show the running service's pooled workers")
    workers.add_argument("--json", action="store_true", help="print the raw status as JSON")
    verb("reset", _reset, "replace the running service's workers one by one, failing no call")
    verb("status", _status, "one screen: listeners, workers, jobs pipelines, publisher, Centrifugo's nodes")
    centrifugo = verbs.add_parser("centrifugo", help="Centrifugo's config, process and binary")
    cverbs = centrifugo.add_subparsers(title="commands", metavar="COMMAND", required=True)
    verb("config", _centrifugo_config, "print Centrifugo's config rendered from hub.yaml", cverbs)
    verb("run", _centrifugo_run, "run the pinned Centrifugo with the rendered config", cverbs)
    verb("path", _centrifugo_path, "print the path of the Centrifugo binary in use", cverbs)
    token = verb("token", _token, "print a connection JWT for USER (a subscription JWT with --channel)")
    token.add_argument("user", metavar="USER", help='the user id ("" for anonymous)')
    token.add_argument("--ttl", type=_positive, default=3600, metavar="S", help="lifetime in seconds (3600)")
    token.add_argument("--channel", metavar="C", help="mint a subscription token for channel C")
    publish = verb("publish", _publish, "publish one JSON value, or JSON lines from stdin, to CHANNEL")
    publish.add_argument("channel", metavar="CHANNEL")
    publish.add_argument("json", metavar="JSON", nargs="?", default="-", help="the value; '-' or none: stdin")
    jobs = verbs.add_parser("jobs", help="push jobs, see and steer the jobs pipelines")
    jverbs = jobs.add_subparsers(title="commands", metavar="COMMAND", required=True)
    push = verb("push", _jobs, "push one job (its id is printed)", jverbs)
    push.set_defaults(jobs_verb="push")
    push.add_argument("name", metavar="NAME", help="the job's name, as in @app.job(NAME)")
    push.add_argument("json", metavar="JSON", nargs="?", default="null", help="the payload (default: null)")
    push.add_argument("--pipeline", metavar="P", help="the pipeline (default: jobs.default_pipeline)")
    push.add_argument("--delay", type=float, default=0.0, metavar="S", help="run no sooner than S seconds")
    push.add_argument("--id", metavar="ID", help="the job id (pushing an id twice enqueues it once)")
    stats = verb("stats", _jobs, "queued, delayed, in flight, failed and dead jobs per pipeline", jverbs)
    stats.add_argument("--json", action="store_true", help="print the rows as JSON")
    stats.set_defaults(jobs_verb="stats")
    status = verb("status", _jobs, "a job's status by id", jverbs)
    status.set_defaults(jobs_verb="status")
    status.add_argument("id", metavar="ID")
    for name, text in (("pause", "stop handing out a pipeline's jobs (pushes still accepted)"),
                       ("resume", "resume a paused pipeline"),
                       ("retry-dead", "move a pipeline's dead-lettered jobs back to its queue")):  # fmt: skip
        steer = verb(name, _jobs, text, jverbs)
        steer.add_argument("pipeline", metavar="PIPELINE")
        steer.set_defaults(jobs_verb=name)
    return parser


def _version() -> str:
    from hub.centrifugo.binary import VERSION

    try:
        version = importlib.metadata.version("hub")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout without installing
        version = "unknown"
    return f"hub {version} (Centrifugo v{VERSION} pinned)"


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds above 0, got {text!r}")
    return value


def _override(text: str) -> tuple[str, object]:
    import yaml

    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE (e.g. pool.workers=2), got {text!r}")
    try:
        return key, yaml.safe_load(value)
    except yaml.YAMLError as exc:
        raise argparse.ArgumentTypeError(f"{key}: the value is not valid YAML: {exc}") from exc


#: The short-hand flags of `hub serve`, and the hub.yaml key each one sets.
_FLAGS = {
    "workers": "pool.workers", "host": "proxy.host", "port": "proxy.http_port", "log_level": "log_level",
}  # fmt: skip


def _overrides(args: argparse.Namespace) -> dict[str, object]:
    """The command line's changes to hub.yaml, as dotted keys."""
    values: dict[str, object] = dict(args.overrides)
    if args.app_dir:
        values["app_dir"] = os.path.abspath(args.app_dir)
    for flag, key in _FLAGS.items():
        if getattr(args, flag, None) is not None:
            values[key] = getattr(args, flag)
    if getattr(args, "reload", False):
        # One worker, as uvicorn's --reload runs one process: a rolling reset of N workers
        # answers with the old code until the last old worker has drained.
        values.setdefault("pool.workers", 1)
    return values


def _load(args: argparse.Namespace) -> Settings:
    """hub.yaml with the command line's changes (pooled workers get these settings from the supervisor)."""
    from .settings import load

    return load(args.config, overrides=_overrides(args))


def _settings(args: argparse.Namespace) -> Settings:
    from .logs import configure

    settings = _load(args)
    configure(settings.log_level, settings.log_format)
    return settings


def _init(args: argparse.Namespace) -> int:
    from .scaffold import scaffold

    print(scaffold(args.dir))
    return 0


def _serve(args: argparse.Namespace) -> int:
    from hub.proxy import run_listeners

    from .loader import import_app
    from .service import Service
    from .settings import weaknesses

    settings = _settings(args)
    for problem in weaknesses(settings):
        log.warning("%s: %s", args.config, problem)
    app = import_app(settings.app, settings.app_dir)
    service = Service(settings, app, with_centrifugo=args.centrifugo, config=args.config)
    return run_listeners(_serve_until_signal(settings, service, reload=args.reload))


async def _serve_until_signal(settings: Settings, service: Service, *, reload: bool = False) -> int:
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
    from .publishing import websocket_url

    async with service, asyncio.TaskGroup() as tasks:
        p, w = settings.proxy, settings.web
        log.info(
            "hub ready: clients connect to %s; proxy http://%s:%d%s (Centrifugo calls it over %s)%s",
            websocket_url(settings), p.host, p.http_port,
            f", grpc://{p.host}:{p.grpc_port}" if p.grpc_port else "", p.transport,
            f"; web {w.app} on http://{w.host}:{w.port}" if w.port else "",
        )  # fmt: skip
        if reload:
            from .reloader import watch_and_reset

            watcher = tasks.create_task(watch_and_reset(settings, service.pool, stop))
        await stop.wait()
        if reload:
            watcher.cancel()
    log.info("stopped")
    return 0


def _workers(args: argparse.Namespace) -> int:
    status = ask(control_path(args.config), Workers(), timeout=10)
    assert isinstance(status, Status)
    if args.json:
        print(json.dumps({k: v for k, v in msgspec.to_builtins(status).items() if k != "t"}))
    else:
        print(table(status))
    return 0


def _status(args: argparse.Namespace) -> int:
    from .status import gather, screen

    parts = asyncio.run(gather(_load(args), args.config))
    print(screen(parts))
    return 0 if all(p.ok for p in parts) else 1


def _reset(args: argparse.Namespace) -> int:
    reply = ask(control_path(args.config), Reset())
    assert isinstance(reply, ResetDone)
    print(f"replaced {reply.replaced} workers")
    if reply.note:
        print(f"hub: note: {reply.note}", file=sys.stderr)
    return 0


def _jobs(args: argparse.Namespace) -> int:
    from .jobs.commands import run

    return asyncio.run(run(_load(args), args))


def _check(args: argparse.Namespace) -> int:
    from hub.centrifugo import find_binary

    from .centrifugo_process import write_config
    from .errors import AppImportError
    from .loader import import_app, import_web_app
    from .settings import weaknesses

    settings = _load(args)
    weak = weaknesses(settings)
    if weak:
        for problem in weak:
            print(f"{args.config}: {problem}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        app = import_app(settings.app, settings.app_dir)
        if settings.web.app:
            import_web_app(settings.web.app, settings.app_dir)
    except AppImportError as exc:
        print(f"{args.config}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    usage = app.usage()
    w = settings.web
    web = f"; web {w.app} on http://{w.host}:{w.port}" if w.port else ""
    try:
        binary = find_binary()
    except BinaryNotFound as exc:
        if os.environ.get("CENTRIFUGO_BIN"):  # named explicitly, so it must be there
            print(f"hub: {exc}", file=sys.stderr)
            return EXIT_CONFIG
        unchecked = "Centrifugo not found, so its config was not checked by it"
        print(f"{args.config}: ok{web and f' ({web[2:]})'} ({unchecked})")
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
    print(f"{args.config}: ok (app {settings.app} handles: {', '.join(usage.kinds()) or 'nothing'}{web})")
    return 0


def _centrifugo_config(args: argparse.Namespace) -> int:
    from hub.centrifugo import render

    from .loader import import_app

    settings = _load(args)
    config = render(settings.centrifugo, settings.proxy, import_app(settings.app, settings.app_dir).usage())
    print(json.dumps(config, indent=2))
    return 0


def _centrifugo_run(args: argparse.Namespace) -> int:
    from hub.centrifugo import find_binary

    from .centrifugo_process import write_config
    from .loader import import_app

    settings = _load(args)
    binary = find_binary()
    path = write_config(settings, import_app(settings.app, settings.app_dir).usage())
    os.execv(binary, [str(binary), "-c", str(path)])


def _centrifugo_path(args: argparse.Namespace) -> int:
    from hub.centrifugo import VERSION, find_binary

    print(find_binary())
    print(f"pinned version: {VERSION}", file=sys.stderr)
    return 0


def _token(args: argparse.Namespace) -> int:
    from .tokens import TokenMinter

    tokens = TokenMinter.from_settings(_load(args).centrifugo)
    if args.channel:
        print(tokens.subscription(args.user, args.channel, ttl=args.ttl))
    else:
        print(tokens.connection(args.user, ttl=args.ttl))
    return 0


def _publish(args: argparse.Namespace) -> int:
    from .bulk import publish_lines, publish_one
    from .publishing import publisher_for

    settings = _load(args)
    if args.json != "-":
        return asyncio.run(publish_one(publisher_for(settings), args.channel, args.json))
    return asyncio.run(publish_lines(publisher_for(settings), args.channel, sys.stdin.buffer))
