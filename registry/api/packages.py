from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from .. import collector
from ..errors import UnsupportedMediaType
from ..schemas import responses
from ..schemas.packages import ChangeSchema, InstallArgs, PushSchema
from ..services import packages, permissions, push
from .context import json_body, service_context
from .contract import SIGNED_IN, dump, dumped, operation
from .json_output import install_body, streamed_list, strings_json
from .response_cache import allow_caching

bp = Blueprint("packages", __name__, url_prefix="/api")


def _push_request(ctx, owner: str, name: str, schema=PushSchema):
    permissions.require_user(ctx.actor)  # authenticate before validating (protocol.md 14.10)
    if ctx.actor.name != owner and permissions.find_readable(ctx, owner, name) is None:
        # Before the body too: a stranger's bad push to a private package gets the same 404 as
        # one to a missing package, never a 400 that shows the package is there.
        raise permissions.package_not_found(ctx.actor, owner, name)
    if not request.is_json:  # the quilt client always sends application/json (gzipped)
        raise UnsupportedMediaType("A push body must be JSON (Content-Type: application/json)")
    return schema().load(json_body() or {})


@bp.put("/package/<owner>/<name>/<top_hash>")
@operation("Packages", "Push an instance; with dry_run, first get upload URLs for its fragments",
           responses.PushAnswer, body=PushSchema, auth=SIGNED_IN, errors=(403, 409, 415))
@collector.relaxed_during
def push_package(owner: str, name: str, top_hash: str):
    ctx = service_context()
    result = push.push_instance(ctx, owner, name, top_hash, _push_request(ctx, owner, name))
    return _push_answer(result)


@bp.put("/v2/package/<owner>/<name>/<top_hash>")
@operation("Packages", "Push an instance as its changes to another instance of the package",
           responses.PushAnswer, body=ChangeSchema, auth=SIGNED_IN, errors=(403, 409, 415))
@collector.relaxed_during
def push_changes(owner: str, name: str, top_hash: str):
    ctx = service_context()
    result = push.push_changes(ctx, owner, name, top_hash, _push_request(ctx, owner, name, ChangeSchema))
    return _push_answer(result)


@bp.post("/package_update/<owner>/<name>/<path:subpath>")
@operation("Packages", "Push a subtree into the latest instance",
           responses.PushAnswer, body=PushSchema, auth=SIGNED_IN, errors=(403, 409, 415))
@collector.relaxed_during
def push_subpackage(owner: str, name: str, subpath: str):
    ctx = service_context()
    result = push.push_subpackage(ctx, owner, name, packages.parse_subpath(subpath),
                                  _push_request(ctx, owner, name))
    return _push_answer(result)


def _push_answer(result: dict) -> Response:
    # What jsonify writes (this app keeps insertion order), a dry run's 200,000 URLs much faster.
    return Response(strings_json(result) + b"\n", mimetype="application/json")


@bp.get("/package/<owner>/<name>/<top_hash>")
@operation("Packages", "An instance: its tree, and download URLs for its fragments",
           responses.Install, query=InstallArgs)
@collector.relaxed_during
def install(owner: str, name: str, top_hash: str):
    installed = packages.get_instance(
        service_context(), owner, name, top_hash,
        subpath=packages.parse_subpath(request.args.get("subpath", "")),
        meta_only=packages.parse_meta_only(request.args.get("meta_only", "")))
    rest = {"urls": installed.urls, "sizes": installed.sizes, **dump(responses.Stamped, installed.instance)}
    answer = Response(install_body(installed.contents, rest), mimetype="application/json")
    allow_caching()
    return answer


@bp.get("/package/<owner>/<name>/")
@operation("Packages", "The tophashes of a package's instances", responses.InstanceHashes)
def instance_hashes(owner: str, name: str):
    return streamed_list("hashes", packages.instance_hashes(service_context(), owner, name))


@bp.delete("/package/<owner>/<name>/")
@operation("Packages", "Delete a package (its fragments go at the next garbage collection)",
           responses.Empty, auth=SIGNED_IN, errors=(403,))
def delete_package(owner: str, name: str):
    packages.delete_package(service_context(), owner, name)
    return jsonify({})


@bp.get("/package/<owner>/")
@operation("Packages", "An owner's packages the caller may read", responses.OwnerPackages)
def owner_packages(owner: str):
    return streamed_list("packages", packages.owner_package_entries(service_context(), owner))


@bp.get("/package_preview/<owner>/<name>/<top_hash>")
@operation("Packages", "An outline of an instance and its README", responses.Preview)
def preview(owner: str, name: str, top_hash: str):
    return dumped(responses.Preview, packages.preview(service_context(), owner, name, top_hash))
