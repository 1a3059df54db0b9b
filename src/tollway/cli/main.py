"""`tollway serve`, `tollway migrate` and `tollway import-oneapi`."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import shutil
import sys
from typing import Any

from tollway import __version__
from tollway.cli.processes import configure_logging, default_workers, wait_for_port
from tollway.crypto import load_instance_secret
from tollway.settings import Settings


def serve(settings: Settings, port: int | None, workers: int | None) -> None:
    import uvicorn

    count = workers or settings.workers or default_workers()
    for name in settings.ignored:
        logging.getLogger("tollway").info("%s is ignored: Tollway always caches and batches", name)
    common: dict[str, Any] = {
        "host": settings.host,
        "port": port or settings.port,
        "log_level": settings.log_level,
        "access_log": settings.debug,
        # Calls in flight get SHUTDOWN_TIMEOUT seconds to finish; then queued writes get at most 10 more.
        "timeout_graceful_shutdown": int(settings.shutdown_timeout_s),
        "proxy_headers": True,
    }
    # Orphaned workers of a killed supervisor stop within their grace period and the flush after it.
    wait_for_port(common["host"], common["port"], settings.shutdown_timeout_s + 15)
    if count == 1:
        from tollway.app import create_app

        uvicorn.run(create_app(dataclasses.replace(settings, workers=1)), **common)
        return
    logging.getLogger("tollway").info("starting %d worker processes on port %s", count, common["port"])
    # Each worker reads its settings from the environment; these make them agree with the command line.
    os.environ["WORKERS"] = str(count)
    if port:
        os.environ["PORT"] = str(port)
    # The instance secret is made here once, before the workers could race to make it.
    load_instance_secret(settings.encryption_key, settings.data_dir)
    # The workers' metrics, summed by whichever worker a scrape reaches; the last run's counters start from zero.
    shared = settings.data_dir / "metrics"
    shutil.rmtree(shared, ignore_errors=True)
    shared.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(shared.resolve())
    uvicorn.run("tollway.cli.processes:worker_app", factory=True, workers=count, **common)


def migrate(settings: Settings) -> None:
    from tollway.storage.database import create_engine, log_url, main_url
    from tollway.storage.migrate import migrate as run

    async def go() -> None:
        engine = create_engine(main_url(settings), settings)
        await run(engine)
        await engine.dispose()
        separate = log_url(settings)
        if separate is not None:
            log_engine = create_engine(separate, settings)
            await run(log_engine, role="logs")
            await log_engine.dispose()

    asyncio.run(go())
    print("database is at the latest schema")


def import_one_api(settings: Settings, dsn: str, logs: bool) -> int:
    """Bring a One API database into Tollway's (migrating Tollway's first); prints what came and what did not."""
    import json

    from tollway.crypto import KeyBox, load_instance_secret
    from tollway.errors import TollwayError
    from tollway.one_api_import import import_one_api as run
    from tollway.storage.database import create_engine, log_url, main_url
    from tollway.storage.migrate import migrate as run_migrations
    from tollway.storage.migrate import upgrade

    async def go() -> int:
        keybox = KeyBox(*load_instance_secret(settings.encryption_key, settings.data_dir))
        engine = create_engine(main_url(settings), settings)
        separate = log_url(settings)
        log_engine = create_engine(separate, settings) if separate else engine
        try:
            await upgrade(engine, keybox, settings)  # the schema, the sealing key's check, the root account
            if log_engine is not engine:
                await run_migrations(log_engine, role="logs")
            report = await run(dsn, engine=engine, log_engine=log_engine, keybox=keybox, logs=logs)
        except TollwayError as exc:
            print(f"tollway: {exc.message}", file=sys.stderr)
            return 1
        finally:
            await engine.dispose()
            if log_engine is not engine:
                await log_engine.dispose()
        print(report.summary())
        print(json.dumps(report.as_json(), ensure_ascii=False, indent=2))
        return 2 if report.failed else 0

    return asyncio.run(go())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="tollway", description="LLM gateway compatible with One API")
    parser.add_argument("--version", action="version", version=f"tollway {__version__}")
    commands = parser.add_subparsers(dest="command")
    serve_cmd = commands.add_parser("serve", help="run the gateway (default)")
    serve_cmd.add_argument("--port", type=int, default=None, help="listen port (default PORT or 3000)")
    serve_cmd.add_argument("--workers", type=int, default=None,
                           help="worker processes on the port (default WORKERS, else one per CPU, at most 8)")
    commands.add_parser("migrate", help="bring the database schema up to date and exit")
    import_cmd = commands.add_parser(
        "import-oneapi", help="copy a One API database (users, tokens, channels, options, codes) into Tollway's")
    import_cmd.add_argument("dsn", help="One API's SQL_DSN (MySQL or PostgreSQL, Go or URL form) or SQLite file path")
    import_cmd.add_argument("--logs", action="store_true", help="bring the logs too (continues where the last left)")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        print(f"tollway: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    workers = getattr(args, "workers", None)
    if workers is not None and workers < 1:
        print("tollway: --workers must be at least 1", file=sys.stderr)
        raise SystemExit(2)
    configure_logging(settings)
    if args.command == "migrate":
        migrate(settings)
    elif args.command == "import-oneapi":
        raise SystemExit(import_one_api(settings, args.dsn, args.logs))
    else:
        serve(settings, getattr(args, "port", None), workers)


if __name__ == "__main__":
    main()
