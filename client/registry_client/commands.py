"""What each command of `registry-client` does. A handler prints for people unless --json is
given, and returns what --json prints."""

from __future__ import annotations

import datetime as dt
import json
import sys

from . import api
from .client import Client
from .entries import PackageDir
from .errors import NotFound, UsageError
from .package import LOCAL, Package


def _say(args, *lines: str) -> None:
    if not args.json:
        for line in lines:
            print(line)


def login(client: Client, args):
    url = args.url or args.registry
    session = client.session(url)
    api.login(session.url, args.code, client=client)
    result = {"registry": session.url, "logged_in": True}
    if not client.config()["default_remote_registry"]:
        client.settings.update_config(default_remote_registry=session.url)
        result["default_remote_registry"] = session.url
    _say(args, f"Signed in to {session.url}.")
    return result


def logout(client: Client, args):
    url = client.session(args.url or args.registry).url
    was = api.logout(url, client=client)
    _say(args, f"Signed out of {url}." if was else f"Not signed in to {url}.")
    return {"registry": url, "logged_out": was}


def config(client: Client, args):
    if args.key is None:
        result = client.config()
    elif args.unset or args.value is not None:
        result = client.settings.update_config(**{args.key: None if args.unset else args.value})
    elif args.key in client.config():
        result = {args.key: client.config()[args.key]}
    else:
        raise UsageError(f"Unknown setting {args.key!r}.", f"Settings: {', '.join(client.config())}")
    _say(args, *(f"{key} = {'' if value is None else value}" for key, value in sorted(result.items())))
    return result


def push(client: Client, args):
    if args.path:
        pkg = Package().set_dir("", args.path)
        if not any(True for _ in pkg.walk()):
            raise UsageError(f"The folder {args.path!r} has no files to push.")
    else:
        pkg = Package.browse(args.name, registry=LOCAL, client=client)
    if args.meta is not None:
        try:
            pkg.set_meta(json.loads(args.meta))
        except ValueError as exc:
            raise UsageError(f"--meta is not JSON: {exc}") from None
    top_hash = pkg.push(args.name, args.registry, args.message, public=args.public, team=args.team, client=client)
    url = client.session(args.registry).url
    where = "" if url == client.config()["default_remote_registry"] else f" -r {url}"
    _say(args, f"Pushed {args.name} {top_hash}", f"Install it with: registry-client install {args.name}{where}")
    return {"name": args.name, "top_hash": top_hash, "registry": url}


def _revision(args) -> dict:
    return {"top_hash": args.top_hash, "tag": args.tag, "version": args.pkg_version}


def install(client: Client, args):
    dest = args.dest or args.name.split("/")[-1]
    pkg = Package.install(args.name, args.registry, dest=dest, client=client, **_revision(args))
    files = sum(1 for _ in pkg.walk())
    _say(args, f"Installed {args.name} {pkg.top_hash} ({files} files) into {dest}")
    return {"name": args.name, "top_hash": pkg.top_hash, "dest": dest, "files": files}


def browse(client: Client, args):
    pkg = Package.browse(args.name, args.registry, client=client, **_revision(args))
    node = pkg
    if args.path:
        try:
            node = pkg[args.path]
        except (KeyError, ValueError):
            raise NotFound(f"{args.name} has no file or folder {args.path!r}.",
                           f"See its contents with: registry-client browse {args.name}") from None
    if isinstance(node, PackageDir):
        base = args.path.strip("/") + "/" if args.path else ""
        entries = [(base + key, entry) for key, entry in node.walk()]
    else:
        entries = [(args.path.strip("/"), node)]
    result = {"name": args.name, "top_hash": pkg.top_hash, "meta": pkg.get_meta(),
              "entries": [{"key": key, "size": e.size, "hashes": e.hashes, "meta": e.get_meta()}
                          for key, e in entries]}
    if not args.json:
        print(f"{args.name} {pkg.top_hash}")
        if pkg.get_meta():
            print(f"metadata: {json.dumps(pkg.get_meta(), sort_keys=True)}")
        for key, entry in entries:
            meta = f"  {json.dumps(entry.get_meta(), sort_keys=True)}" if entry.get_meta() else ""
            print(f"{_size(entry.size):>10}  {key}{meta}")
    return result


def _size(size: int | None) -> str:
    if size is None:
        return "?"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(size)


def log(client: Client, args):
    entries = api.log(args.name, args.registry, client=client)
    if not args.json:
        for entry in reversed(entries):
            when = dt.datetime.fromtimestamp(entry["created"]).strftime("%Y-%m-%d %H:%M:%S")
            labels = ", ".join((entry.get("tags") or []) + [f"v{v}" for v in entry.get("versions") or []])
            print(f"{entry['hash'][:12]}  {when}  {entry['author']}" + (f"  ({labels})" if labels else ""))
            if entry.get("message"):
                print(f"    {entry['message']}")
    return entries


def tag(client: Client, args):
    if args.action == "list":
        result = api.list_tags(args.name, args.registry, client=client)
        _say(args, *(f"{name}: {hash_}" for name, hash_ in result.items()))
        return result
    if args.action == "add":
        full = api.add_tag(args.name, args.tag, args.hash, args.registry, client=client)
        _say(args, f"Tag {args.tag} -> {full}")
        return {"tag": args.tag, "hash": full}
    api.remove_tag(args.name, args.tag, args.registry, client=client)
    _say(args, f"Removed tag {args.tag}")
    return {"tag": args.tag, "removed": True}


def version(client: Client, args):
    if args.action == "list":
        result = api.list_versions(args.name, args.registry, client=client)
        _say(args, *(f"{name}: {hash_}" for name, hash_ in result.items()))
        return result
    full = api.add_version(args.name, args.version, args.hash, args.registry, client=client)
    _say(args, f"Version {args.version} -> {full}")
    return {"version": args.version, "hash": full}


def access(client: Client, args):
    if args.action == "list":
        users = api.list_access(args.name, args.registry, client=client)
        _say(args, *users)
        return users
    change = api.add_access if args.action == "add" else api.remove_access
    change(args.name, args.user, args.registry, client=client)
    _say(args, f"Access {'added for' if args.action == 'add' else 'removed for'} {args.user}")
    return {"user": args.user, "action": args.action}


def search(client: Client, args):
    results = api.search(" ".join(args.words), args.registry, client=client)
    _say(args, *([f"{item['owner']}/{item['name']}" for item in results] or ["(No results)"]))
    return results


def list_(client: Client, args):
    names = api.list_packages(args.registry, args.owner, client=client)
    _say(args, *names)
    return names


def delete(client: Client, args):
    api.parse_name(args.name)
    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError(f"Not deleting {args.name}: confirmation needed.", "Add --yes to delete without a prompt.")
        answer = input(f"This deletes {args.name} with all its history. Type its name to confirm: ")
        if answer.strip() != args.name:
            raise UsageError("Not deleted: the name did not match.")
    api.delete_package(args.name, args.registry, client=client)
    _say(args, f"Deleted {args.name}.")
    return {"name": args.name, "deleted": True}
