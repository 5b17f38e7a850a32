"""`command-center`: the operator's command line. Every command reads the same CC_ settings as the app."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from command_center.db import Database
from command_center.settings import Settings, get_settings

Command = Callable[[argparse.Namespace, Settings], Awaitable[int]]
COMMANDS: dict[str, tuple[Command, str]] = {}


def command(name: str, help_text: str) -> Callable[[Command], Command]:
    def register(fn: Command) -> Command:
        COMMANDS[name] = (fn, help_text)
        return fn

    return register


def _print_error(exc: Any) -> None:
    print(f"error: {exc.message}", file=sys.stderr)
    if isinstance(exc.details, list) and len(exc.details) > 1:
        for detail in exc.details:
            print(f"  - {detail}", file=sys.stderr)


async def _with_db(settings: Settings, work: Callable[[Database], Awaitable[int]]) -> int:
    db = Database.from_settings(settings)
    try:
        return await work(db)
    finally:
        await db.dispose()


@command("migrate", "apply the database migrations")
async def migrate_cmd(args: argparse.Namespace, settings: Settings) -> int:
    from command_center.migrate import upgrade

    async def work(db: Database) -> int:
        await upgrade(db.engine)
        print("database is at the latest migration")
        return 0

    return await _with_db(settings, work)


@command("load-courts", "load or update the court directory from the administrative-division dataset")
async def load_courts_cmd(args: argparse.Namespace, settings: Settings) -> int:
    from command_center.courts.dataset import DATASET
    from command_center.courts.service import load_courts

    async def work(db: Database) -> int:
        async with db.unit_of_work() as session:
            result = await load_courts(session)
        print(f"dataset: {DATASET}")
        print(result.summary())
        return 0

    return await _with_db(settings, work)


@command("load-calendar", "load an officially announced holiday year from a JSON file")
async def load_calendar_cmd(args: argparse.Namespace, settings: Settings) -> int:
    from command_center.audit.service import record
    from command_center.calendar.service import load_calendar_year, read_calendar_file
    from command_center.errors import AppError

    async def work(db: Database) -> int:
        try:
            data = read_calendar_file(args.file)
            async with db.unit_of_work() as session:
                year = await load_calendar_year(session, data=data)
                await record(
                    session,
                    action="calendar.loaded",
                    actor_label="cli",
                    subject_type="calendar_year",
                    subject_id=str(year.year),
                    details={"source": year.source},
                )
        except AppError as exc:
            _print_error(exc)
            return 2
        print(f"loaded the official schedule for {year.year}")
        return 0

    return await _with_db(settings, work)


@command("demo", "add the demo data set (only into an empty database)")
async def demo_cmd(args: argparse.Namespace, settings: Settings) -> int:
    # The composition root joins the demo users and the assistance demo data set.
    from assistance.demo import load_demo_cases_into
    from command_center.demo import DEMO_PASSWORD, SECOND_FACTOR_HINT, load_demo

    async def work(db: Database) -> int:
        async with db.unit_of_work() as session:
            created = await load_demo(session, settings=settings)
        if not created:
            print("the database already has users; demo data not added")
            return 0
        await load_demo_cases_into(db, progress=print)
        print(f"demo users (password {DEMO_PASSWORD}):")
        for user in created:
            print(f"  {user.username:<16} {user.role.value:<14} {user.court_code}  {user.display_name}")
        print(SECOND_FACTOR_HINT)
        return 0

    return await _with_db(settings, work)


@command("create-user", "create a user in a court")
async def create_user_cmd(args: argparse.Namespace, settings: Settings) -> int:
    from command_center.errors import AppError
    from command_center.identity import service as identity
    from command_center.identity.principal import Role

    async def work(db: Database) -> int:
        try:
            async with db.unit_of_work() as session:
                user = await identity.create_user(
                    session,
                    username=args.username,
                    password=args.password,
                    role=Role(args.role),
                    court_code=args.court,
                    display_name=args.display_name,
                )
        except AppError as exc:
            _print_error(exc)
            return 2
        print(f"created user {user.username} ({user.role}) in court {user.court_code}")
        return 0

    return await _with_db(settings, work)


@command("create-token", "create an API token for a court system (printed once)")
async def create_token_cmd(args: argparse.Namespace, settings: Settings) -> int:
    from command_center.errors import AppError
    from command_center.identity import service as identity

    async def work(db: Database) -> int:
        try:
            async with db.unit_of_work() as session:
                token, plaintext = await identity.create_token(session, court_code=args.court, name=args.name)
        except AppError as exc:
            _print_error(exc)
            return 2
        print(f"token {token.id} for court {token.court_code} ({token.name}); store it now, it is shown once:")
        print(plaintext)
        return 0

    return await _with_db(settings, work)


@command("totp-code", "print a demo user's current two-factor code (not in production)")
async def totp_code_cmd(args: argparse.Namespace, settings: Settings) -> int:
    from command_center.db import utcnow
    from command_center.errors import AppError
    from command_center.identity import second_factor, totp

    async def work(db: Database) -> int:
        try:
            async with db.unit_of_work(read_only=True) as session:
                user, secret = await second_factor.demo_secret(session, username=args.username, settings=settings)
        except AppError as exc:
            _print_error(exc)
            return 2
        if args.uri:
            print(totp.provisioning_uri(secret, username=user.username))
        else:
            print(totp.code_at(secret, totp.time_step(utcnow())))
        return 0

    return await _with_db(settings, work)


@command("reset-second-factor", "remove a user's two-factor sign-in and end their sessions (audited)")
async def reset_second_factor_cmd(args: argparse.Namespace, settings: Settings) -> int:
    from command_center.errors import AppError
    from command_center.identity import second_factor
    from command_center.identity import service as identity

    async def work(db: Database) -> int:
        try:
            async with db.unit_of_work() as session:
                user = await identity.get_by_username(session, username=args.username)
                if user is None or user.id is None:
                    print(f"error: no user named {args.username!r}", file=sys.stderr)
                    return 2
                await second_factor.reset(session, user_id=user.id, actor=None, actor_label="cli")
        except AppError as exc:
            _print_error(exc)
            return 2
        print(f"two-factor sign-in of {user.username} removed; they set it up again at their next sign-in")
        return 0

    return await _with_db(settings, work)


@command("period", "compute a statutory period and print it as JSON")
async def period_cmd(args: argparse.Namespace, settings: Settings) -> int:
    from command_center.calendar.service import load_calendar, period_json
    from command_center.errors import AppError

    async def work(db: Database) -> int:
        async with db.unit_of_work() as session:
            calendar = await load_calendar(session)
        try:
            result = period_json(
                calendar,
                start=args.start,
                days=args.days,
                months=args.months,
                working_days=args.working_days,
            )
        except AppError as exc:
            _print_error(exc)
            return 2
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return 0

    return await _with_db(settings, work)


@command("audit-verify", "verify the audit hash chain and report the first broken entry")
async def audit_verify_cmd(args: argparse.Namespace, settings: Settings) -> int:
    from command_center.audit.service import verify

    async def work(db: Database) -> int:
        async with db.unit_of_work(read_only=True) as session:
            result = await verify(session)
        print(json.dumps(dataclasses.asdict(result), ensure_ascii=False, indent=2))
        return 0 if result.ok else 1

    return await _with_db(settings, work)


@command("recording-verify", "re-hash a video session's recording segments and compare with the database and audit chain")
async def recording_verify_cmd(args: argparse.Namespace, settings: Settings) -> int:
    from realtime.video.recording import verify_session_recordings
    from realtime.video.routes import recording_root

    async def work(db: Database) -> int:
        checks = await verify_session_recordings(db, session_id=args.session, root=recording_root(settings))
        print(json.dumps([dataclasses.asdict(c) for c in checks], ensure_ascii=False, indent=2))
        if not checks:
            print(f"video session {args.session} has no recording segments", file=sys.stderr)
        return 0 if all(c.ok for c in checks) else 1

    return await _with_db(settings, work)


@command("makemigration", "write a migration from the difference between the models and the schema")
async def makemigration_cmd(args: argparse.Namespace, settings: Settings) -> int:
    import tempfile

    from command_center.migrate import autogenerate, upgrade

    with tempfile.TemporaryDirectory() as tmp:
        scratch = settings.model_copy(update={"database_url": f"sqlite+aiosqlite:///{tmp}/scratch.db"})

        async def work(db: Database) -> int:
            await upgrade(db.engine)
            await autogenerate(db.engine, message=args.message, rev_id=args.rev_id)
            return 0

        return await _with_db(scratch, work)


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from command_center.app import create_app
    from command_center.logging import configure_logging

    configure_logging(level=settings.log_level, json_lines=settings.log_json)
    uvicorn.run(
        create_app(settings),
        host=args.host or settings.host,
        port=args.port or settings.port,
        log_config=None,
        proxy_headers=True,
        timeout_graceful_shutdown=10,
    )
    return 0


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    from command_center.logging import configure_logging
    from scheduler.worker import run

    configure_logging(level=settings.log_level, json_lines=settings.log_json)
    return run(settings)


def _up(args: argparse.Namespace, settings: Settings) -> int:
    from command_center.launcher import up

    return up(settings, host=args.host, port=args.port)


SYNC_COMMANDS = {
    "serve": (_serve, "run the web app (HTTP API, pages, socket.io)"),
    "worker": (_worker, "run the background worker (arq)"),
    "up": (_up, "set up and start everything on one machine (what `make run` does)"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="command-center", description="Enforcement Command Center")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (_, help_text) in {**COMMANDS, **SYNC_COMMANDS}.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == "load-calendar":
            p.add_argument("file", help="JSON file with the year's holidays and swapped working days")
        elif name == "create-user":
            p.add_argument("--username", required=True)
            p.add_argument("--password", required=True)
            p.add_argument("--role", required=True, choices=["admin", "command_staff", "officer", "clerk"])
            p.add_argument("--court", required=True, help="6-digit court code")
            p.add_argument("--display-name", default=None)
        elif name == "create-token":
            p.add_argument("--court", required=True, help="6-digit court code")
            p.add_argument("--name", required=True, help="which court system uses it")
        elif name == "totp-code":
            p.add_argument("username")
            p.add_argument("--uri", action="store_true", help="print the otpauth:// URI for an authenticator app")
        elif name == "reset-second-factor":
            p.add_argument("username")
        elif name == "period":
            p.add_argument("--start", required=True, help="YYYY-MM-DD")
            unit = p.add_mutually_exclusive_group(required=True)
            unit.add_argument("--days", type=int)
            unit.add_argument("--months", type=int)
            unit.add_argument("--working-days", type=int)
        elif name in ("serve", "up"):
            p.add_argument("--host", default=None)
            p.add_argument("--port", type=int, default=None)
        elif name == "recording-verify":
            p.add_argument("session", type=int, help="video session id")
        elif name == "makemigration":
            p.add_argument("--rev-id", required=True)
            p.add_argument("--message", required=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = get_settings()
    if args.command in SYNC_COMMANDS:
        return SYNC_COMMANDS[args.command][0](args, settings)
    fn, _ = COMMANDS[args.command]
    return asyncio.run(fn(args, settings))


if __name__ == "__main__":
    sys.exit(main())
