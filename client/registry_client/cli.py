"""The `registry-client` command: the SDK's verbs for the shell, `--json` for scripts, and errors as
two plain lines (what happened, what to do) with exit status 1 instead of tracebacks."""

from __future__ import annotations

import argparse
import json
import sys

from . import __version__, commands
from .client import Client
from .errors import ClientError
from .settings import PROGRESS_CHOICES, Settings


def _common(parser: argparse.ArgumentParser, defaults: bool) -> None:
    # Accepted before and after the command; a subcommand's copy must not reset the main one's.
    def value(default):
        return default if defaults else argparse.SUPPRESS

    parser.add_argument("-r", "--registry", default=value(None), help="registry URL (default: the configured one)")
    parser.add_argument("--json", action="store_true", default=value(False), help="print JSON, for scripts")
    parser.add_argument("--progress", choices=PROGRESS_CHOICES, default=value(None),
                        help="progress bars on standard error (default: the setting, 'auto' = on a terminal)")
    parser.add_argument("--workers", type=int, default=value(None), help="parallel transfers")


def _revision(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-t", "--tag", help="a tag (default: latest)")
    group.add_argument("-v", "--version", dest="pkg_version", help="a version")
    group.add_argument("-x", "--hash", dest="top_hash", help="a top hash, or its first 6+ digits")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="registry-client", description="Push, browse and install data packages.")
    parser.add_argument("-V", "--version", action="version", version=f"registry-client {__version__}")
    _common(parser, defaults=True)
    commands_ = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, handler, help_: str, aliases=()) -> argparse.ArgumentParser:
        sub = commands_.add_parser(name, help=help_, description=help_, aliases=list(aliases))
        _common(sub, defaults=False)
        sub.set_defaults(handler=handler)
        return sub

    sub = command("login", commands.login, "sign in with a one-time code from the registry's /login page")
    sub.add_argument("url", nargs="?", help="registry URL (becomes the default if none is set)")
    sub.add_argument("--code", help="the code (prompted for when left out)")
    sub = command("logout", commands.logout, "forget this machine's login to a registry")
    sub.add_argument("url", nargs="?", help="registry URL")
    sub = command("config", commands.config, "show or change settings")
    sub.add_argument("key", nargs="?")
    sub.add_argument("value", nargs="?")
    sub.add_argument("--unset", action="store_true", help="back to the default")

    sub = command("push", commands.push, "push a folder (or the package built locally) to the registry")
    sub.add_argument("name", help="OWNER/NAME")
    sub.add_argument("path", nargs="?", help="folder whose files become the package")
    sub.add_argument("-m", "--message", help="what changed, shown in the log")
    sub.add_argument("--meta", help="package metadata, a JSON object")
    sub.add_argument("--public", action="store_true", help="readable by everyone (a new package)")
    sub.add_argument("--team", action="store_true", help="readable by every signed-in user (a new package)")
    sub = command("install", commands.install, "download a package's files into a folder")
    sub.add_argument("name", help="OWNER/NAME")
    sub.add_argument("-d", "--dest", help="folder to write to (default: ./NAME)")
    _revision(sub)
    sub = command("browse", commands.browse, "list a package's files and metadata (downloads no data)",
                  aliases=("ls",))
    sub.add_argument("name", help="OWNER/NAME")
    sub.add_argument("path", nargs="?", help="only this file or folder")
    _revision(sub)

    sub = command("log", commands.log, "the package's pushes, newest first")
    sub.add_argument("name", help="OWNER/NAME")
    tag = command("tag", None, "list, add or remove tags").add_subparsers(dest="action", required=True)
    for action, args, help_ in (("list", (), "list tags"), ("add", ("tag", "hash"), "point a tag at a push"),
                                ("remove", ("tag",), "delete a tag")):
        _action(tag, action, commands.tag, help_, args)
    version = command("version", None, "list or add versions").add_subparsers(dest="action", required=True)
    for action, args, help_ in (("list", (), "list versions"),
                                ("add", ("version", "hash"), "name a push with a version (permanent)")):
        _action(version, action, commands.version, help_, args)
    access = command("access", None, "list or change who can read the package").add_subparsers(
        dest="action", required=True)
    for action, args, help_ in (("list", (), "list users with access"),
                                ("add", ("user",), "share with a user, 'team' or 'public'"),
                                ("remove", ("user",), "stop sharing")):
        _action(access, action, commands.access, help_, args)

    sub = command("search", commands.search, "find packages by name, file name or README")
    sub.add_argument("words", nargs="*")
    sub = command("list", commands.list_, "list packages you can read (of one owner, or all tagged ones)")
    sub.add_argument("owner", nargs="?")
    sub = command("delete", commands.delete, "delete a package and its history from the registry")
    sub.add_argument("name", help="OWNER/NAME")
    sub.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    return parser


def _action(actions, name: str, handler, help_: str, args: tuple[str, ...]) -> None:
    sub = actions.add_parser(name, help=help_, description=help_)
    _common(sub, defaults=False)
    sub.add_argument("name", help="OWNER/NAME")
    for arg in args:
        sub.add_argument(arg)
    sub.set_defaults(handler=handler)


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.workers is not None and args.workers < 1:
        parser.error("--workers must be at least 1")
    try:
        client = Client(Settings.from_env(), progress=args.progress, workers=args.workers)
        result = args.handler(client, args)
        if args.json and result is not None:
            print(json.dumps(result, indent=2, sort_keys=True))
    except ClientError as exc:
        print(f"Error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(exc.hint, file=sys.stderr)
        if args.json:
            print(json.dumps({"error": exc.message, "hint": exc.hint, "status": exc.status}))
        sys.exit(1)
    except KeyboardInterrupt:
        print("\nInterrupted. Run the command again: transfers resume where they stopped.", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
