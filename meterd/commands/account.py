"""`meterd account add|import|end|invite|list|audit`: portal accounts from the register, the premises
each holds for a period, the one-time e-mail link of a first login, and the audit log of staff access."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from meterd.commands.storeopts import BadArgument, add_store_options, iso_minute, open_store, parse_when

if TYPE_CHECKING:
    from meterd.config import PortalSection, SmtpSection
    from meterd.store import Store


def cmd_account(args: argparse.Namespace) -> int:
    actions = {"add": _add, "import": _import, "end": _end, "invite": _invite, "list": _list, "audit": _audit}
    return actions[args.action](args)


def _smtp(args: argparse.Namespace) -> tuple[SmtpSection, PortalSection]:
    from meterd.config import load_config

    if not args.config:
        raise BadArgument("--invite and invite need --config FILE with an [smtp] table")
    config = load_config(args.config)
    if config.smtp is None:
        raise BadArgument(f"{args.config}: no [smtp] table: e-mail cannot be sent")
    return config.smtp, config.portal


def _add(args: argparse.Namespace) -> int:
    from meterd.store.accounts import add_account, grant

    if not args.login:
        raise BadArgument("account add LOGIN")
    password = None
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
        if not 10 <= len(password) <= 256:
            raise BadArgument("the password read from stdin needs 10 to 256 characters")
    start = parse_when(args.start, "--from") if args.start else 0
    end = parse_when(args.end, "--to") if args.end else None
    if args.role == "tenant" and not args.premises:
        raise BadArgument("a tenant account needs --premises CODE")
    mail = _smtp(args) if args.invite else None
    store = open_store(args)
    with store.begin() as conn:
        aid = add_account(conn, args.login, email=args.email or "", name=args.name or "", role=args.role,
                          password=password, lang=args.lang)  # fmt: skip
        for code in args.premises or []:
            grant(conn, aid, code, start, end)
    print(f"account {args.login}: {args.role}" + (f", premises {', '.join(args.premises)}" if args.premises else ""))
    if mail is not None:
        _send_invite(store, mail, args.login)
    elif password is None:
        print("  no password: the first login is by the one-time link (meterd account invite LOGIN --config FILE)")
    return 0


def _send_invite(store: Store, mail: tuple[SmtpSection, PortalSection], login: str) -> None:
    from meterd.web.links import invite

    smtp, portal = mail
    to = invite(store, smtp, portal, login)
    print(f"  login link sent to {to} (valid {portal.link_hours} h)")


def _import(args: argparse.Namespace) -> int:
    from meterd.store.accounts import import_accounts, parse_account_file

    if not args.login:
        raise BadArgument("account import FILE.csv")
    path = Path(args.login)
    rows = parse_account_file(path, args.encoding)
    mail = _smtp(args) if args.invite else None
    store = open_store(args)
    with store.begin() as conn:
        created, granted = import_accounts(conn, path, rows)
    print(f"{path}: {created} accounts created, {granted} tenancies granted")
    if mail is not None:
        from meterd.mail import MailError

        failed = 0
        for login in dict.fromkeys(r.login for r in rows if r.email):
            try:
                _send_invite(store, mail, login)
            except MailError as e:
                failed += 1
                print(f"  {login}: {e.message}", file=sys.stderr)
        if failed:
            return 1
    return 0


def _end(args: argparse.Namespace) -> int:
    from meterd.store.accounts import account_id, end_tenancy

    if not args.login or not args.premises or not args.at:
        raise BadArgument("account end LOGIN --premises CODE --at DATE")
    at = parse_when(args.at, "--at")
    store = open_store(args)
    with store.begin() as conn:
        aid = account_id(conn, args.login)
        for code in args.premises:
            end_tenancy(conn, aid, code, at)
    print(f"account {args.login}: tenancy of {', '.join(args.premises)} ended {iso_minute(at)} UTC")
    return 0


def _invite(args: argparse.Namespace) -> int:
    if not args.login:
        raise BadArgument("account invite LOGIN --config FILE")
    mail = _smtp(args)
    _send_invite(open_store(args), mail, args.login)
    return 0


def _list(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from meterd.store.accounts import OPEN, view
    from meterd.store.models import Account

    store = open_store(args)
    out = []
    with store.begin() as conn:
        for aid in conn.execute(select(Account.id).order_by(Account.login)).scalars():
            a = view(conn, int(aid))
            assert a is not None
            out.append({"login": a.login, "role": a.role, "email": a.email, "consent_notices": a.consent_notices,
                        "premises": [{"id": t.premises, "from": iso_minute(t.start) if t.start else None,
                                      "to": None if t.end >= OPEN else iso_minute(t.end)} for t in a.tenures]})  # fmt: skip
    if args.json:
        print(json.dumps(out, ensure_ascii=False, indent=1))
        return 0
    for row in out:
        held = ", ".join(f"{p['id']} ({p['from'] or '…'} – {p['to'] or 'now'})" for p in row["premises"])  # type: ignore[attr-defined]
        print(f"{row['login']:24} {row['role']:7} {row['email'] or '-':32} {held}")
    return 0


def _audit(args: argparse.Namespace) -> int:
    from meterd.store.accounts import audit_log

    since = parse_when(args.since, "--since") if args.since else 0
    store = open_store(args)
    with store.begin() as conn:
        rows = audit_log(conn, since, args.premises[0] if args.premises else None, limit=args.limit)
    for r in rows:
        if args.json:
            print(json.dumps({"at": r.at, "actor": r.actor, "role": r.role, "action": r.action, "premises": r.premises,
                              "meter": r.meter, "detail": r.detail, "address": r.address}, ensure_ascii=False))  # fmt: skip
        else:
            print(f"{iso_minute(r.at)}  {r.actor} ({r.role})  {r.action}  {r.premises} {r.meter}  {r.detail}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("account", help="portal accounts: add, import, end a tenancy, invite, list, audit log")
    p.add_argument("action", choices=("add", "import", "end", "invite", "list", "audit"))
    p.add_argument("login", nargs="?", help="the account's login (for import: the CSV file)")
    p.add_argument("--email")
    p.add_argument("--name")
    p.add_argument("--role", choices=("tenant", "staff"), default="tenant")
    p.add_argument("--lang", choices=("pl", "en"), default="pl")
    p.add_argument("--premises", action="append", help="premises id from the register (repeatable)")
    p.add_argument("--from", dest="start", help="tenancy start (date or ISO time; default: all earlier data)")
    p.add_argument("--to", dest="end", help="tenancy end (default: open)")
    p.add_argument("--at", help="for end: when the tenancy ends")
    p.add_argument("--password-stdin", action="store_true", help="read a first password from stdin instead of a link")
    p.add_argument("--invite", action="store_true", help="e-mail the one-time login link now (needs --config)")
    p.add_argument("--config", help="TOML configuration with [smtp] and [portal] (for links)")
    p.add_argument("--encoding", default="utf-8", help="of the import file (cp1250 for Polish Excel)")
    p.add_argument("--since", help="for audit: entries from this date")
    p.add_argument("--limit", type=int, default=1000)
    p.add_argument("--json", action="store_true")
    add_store_options(p)
    p.set_defaults(func=cmd_account)
