"""`meterd files`: the files an installed meterd carries for its operators (systemd units, udev rules,
alert rules, broker settings, configuration templates): list them, print one, or copy one."""

from __future__ import annotations

import argparse
import shutil
import sys
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

from meterd.commands.storeopts import BadArgument


def shipped() -> dict[str, Traversable]:
    """Every shipped file by its name (`systemd/meterd.service`, `prometheus/alerts.yml`, ...)."""
    out: dict[str, Traversable] = {}

    def walk(node: Traversable, prefix: str) -> None:
        for child in node.iterdir():
            name = f"{prefix}{child.name}"
            if child.is_dir():
                walk(child, name + "/")
            elif not child.name.startswith("."):
                out[name] = child

    walk(resources.files("meterd") / "share", "")
    return dict(sorted(out.items()))


def cmd_files(args: argparse.Namespace) -> int:
    files = shipped()
    if args.action == "list":
        for name in files:
            print(name)
        return 0
    if not args.name:
        raise BadArgument(f"files {args.action} needs a NAME (one of `meterd files list`)")
    found = files.get(args.name)
    if found is None:
        near = [n for n in files if args.name.rsplit("/", 1)[-1] in n]
        hint = f"; did you mean {', '.join(near[:3])}?" if near else "; `meterd files list` names them"
        raise BadArgument(f"no shipped file {args.name!r}{hint}")
    if args.action == "show":
        sys.stdout.write(found.read_text(encoding="utf-8"))
        return 0
    if not args.dest:
        raise BadArgument("files copy needs a destination (a file or a directory)")
    dest = Path(args.dest)
    if dest.is_dir():
        dest = dest / args.name.rsplit("/", 1)[-1]
    if dest.exists() and not args.force:
        raise BadArgument(f"{dest} exists already (--force replaces it)")
    with resources.as_file(found) as source:
        shutil.copyfile(source, dest)
    print(f"{args.name} -> {dest}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("files", help="the units, rules and templates an installed meterd carries: list, show, copy")
    p.add_argument("action", choices=("list", "show", "copy"))
    p.add_argument("name", nargs="?", help="as `meterd files list` names it, e.g. systemd/meterd.service")
    p.add_argument("dest", nargs="?", help="for copy: a file or a directory")
    p.add_argument("--force", action="store_true", help="for copy: replace an existing file")
    p.set_defaults(func=cmd_files)
