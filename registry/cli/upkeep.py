from __future__ import annotations

import click

from ..services import upkeep
from .common import confirm, json_option, operator_context, output, yes_option


@click.command(help="Delete fragments that no package references any more and that no push touched "
                    "within the grace period, stored objects that no fragment names (uploads of "
                    "pushes that never completed) and multipart uploads never completed, once older "
                    "than the grace period.")
@click.option("--dry-run", is_flag=True, help="Only report what would be deleted.")
@click.option("--grace", "grace_hours", default=48.0, show_default=True, type=float,
              help="Hours a fragment must have been unreferenced and untouched (at least the upload URL lifetime).")
@yes_option
@json_option
def gc(dry_run: bool, grace_hours: float, yes: bool, as_json: bool):
    if not dry_run:
        confirm(f"Delete unreferenced fragments and abandoned uploads older than {grace_hours:g} hours "
                "from storage?", yes)
    with operator_context() as ctx:
        totals = upkeep.collect_garbage(ctx, grace_hours=grace_hours, dry_run=dry_run)
        aborted = upkeep.collect_multipart_uploads(ctx, grace_hours=grace_hours, dry_run=dry_run)
    rows = [{"owner": owner, "fragments": t.fragments, "bytes": t.bytes} for owner, t in totals.items()]
    if as_json or rows:
        output(rows, as_json, ["owner", "fragments", "bytes"])
    if not as_json:
        verb = "Would delete" if dry_run else "Deleted"
        click.echo(f"{verb} {sum(r['fragments'] for r in rows)} fragment(s), {sum(r['bytes'] for r in rows)} bytes.")
        if aborted:
            click.echo(f"{'Would abort' if dry_run else 'Aborted'} {aborted} abandoned multipart upload(s).")


@click.group(help="Stored fragments.")
def blobs():
    pass


@blobs.command(help="Check every fragment is in storage with its recorded size (--deep: and its SHA-256). "
                    "Problems are recorded on the fragment and make the exit status 1.")
@click.argument("owner", required=False)
@click.option("--deep", is_flag=True, help="Read every fragment and check its SHA-256.")
@click.option("--unverified", is_flag=True,
              help="Only fragments never checked, each against the SHA-256 the store computed on upload "
                   "(read where it keeps none).")
@json_option
def verify(owner: str | None, deep: bool, unverified: bool, as_json: bool):
    with operator_context() as ctx:
        problems = upkeep.verify_blobs(ctx, owner=owner, deep=deep, unverified=unverified)
    rows = [{"problem": kind, "fragment": fragment} for kind, fragments in problems.items() for fragment in fragments]
    if as_json or rows:
        output(rows, as_json, ["problem", "fragment"])
    if rows:
        raise click.ClickException(f"{len(rows)} fragment(s) are missing or damaged.")
    if not as_json:
        click.echo("Every fragment is stored intact." if deep or unverified
                   else "Every fragment is stored with its size.")


@click.command(help="Users, packages, instances, fragments and bytes per owner.")
@json_option
def stats(as_json: bool):
    with operator_context() as ctx:
        figures = upkeep.stats(ctx)
    if as_json:
        output(figures, True)
        return
    owners = figures.pop("owners")
    output(figures, False)
    click.echo("")
    output(owners, False, ["owner", "packages", "fragments", "bytes"])
