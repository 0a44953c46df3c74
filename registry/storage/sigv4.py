"""Presigned S3 URLs (AWS Signature Version 4, query-string form) without botocore's
per-URL machinery.

boto3's `generate_presigned_url` costs about 0.4 ms per URL; a dry run of a 100,000-fragment
package needs 200,000 of them (80 seconds). Signing directly, with the day's signing key
cached, produces the same URLs in a few microseconds each (benchmarks/presign.py).
Credentials still come from boto3, so refreshable credentials (instance roles) keep working.

A PUT URL may also sign `x-amz-checksum-sha256` as a query parameter (boto3 can only sign it as
a header, which the quilt client cannot send): a store that checks it (SeaweedFS does) then
refuses any other bytes, and the parameter cannot be changed without breaking the signature.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import threading
import time
from typing import NamedTuple
from urllib.parse import quote, urlsplit

ALGORITHM = "AWS4-HMAC-SHA256"
CHECKSUM_PARAMETER = "x-amz-checksum-sha256"


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


class _KeyedSha256:
    """HMAC-SHA256 under one key with the key's inner and outer pads hashed once: each message
    then costs two SHA-256 copies and updates, half what `hmac.digest` costs (it rebuilds both
    pads on every call)."""

    def __init__(self, key: bytes):
        key = key.ljust(64, b"\0")  # a signing key is 32 bytes, below SHA-256's block size
        self.inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self.outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def hexdigest(self, message: bytes) -> str:
        inner = self.inner.copy()
        inner.update(message)
        outer = self.outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()


def _encode(text: str) -> str:
    return quote(text, safe="-_.~")


def checksum_sha256(hex_digest: str) -> str:
    """The `x-amz-checksum-sha256` value for a SHA-256 given in hex: base64 of the 32 bytes."""
    return base64.b64encode(bytes.fromhex(hex_digest)).decode()


def composite_checksum(part_checksums: list[str]) -> str:
    """The checksum S3 reports for a multipart object: SHA-256 of the parts' SHA-256 digests,
    base64, then `-` and the number of parts."""
    joined = b"".join(base64.b64decode(checksum) for checksum in part_checksums)
    return f"{base64.b64encode(hashlib.sha256(joined).digest()).decode()}-{len(part_checksums)}"


_SAFE_PATH = re.compile(r"[A-Za-z0-9/_.~-]*\Z")


class _Second(NamedTuple):
    """Everything a URL shares with the others signed within the same second."""

    epoch: int
    credentials_key: tuple
    timestamp: str
    scope: str
    query: str
    signing_key: bytes
    signer: _KeyedSha256

    @property
    def to_sign_head(self) -> str:
        """The string to sign, up to the canonical request's hash."""
        return f"{ALGORITHM}\n{self.timestamp}\n{self.scope}\n"


class PresignerV4:
    def __init__(self, endpoint_url: str, region: str, credentials_provider, expires_in: int):
        """`credentials_provider()` returns an object with access_key, secret_key and token."""
        parts = urlsplit(endpoint_url)
        self.base = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
        self.path_prefix = parts.path.rstrip("/")
        # botocore leaves default ports out of the signed Host header; so must we.
        default_port = {"http": 80, "https": 443}[parts.scheme]
        self.host = parts.hostname if parts.port in (None, default_port) else f"{parts.hostname}:{parts.port}"
        self.region = region
        self.credentials_provider = credentials_provider
        self.expires_in = expires_in
        self._second: _Second | None = None
        self._lock = threading.Lock()

    def _for_second(self, now: dt.datetime | None) -> _Second:
        """The timestamp, scope, canonical query and signing key, computed once per second (a dry
        run signs 200,000 URLs); the credentials are read again every second, so refreshed ones
        (instance roles) are picked up."""
        epoch = int(now.timestamp()) if now is not None else int(time.time())
        cached = self._second
        if cached is not None and cached.epoch == epoch:
            return cached
        credentials = self.credentials_provider()
        timestamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(epoch))
        day = timestamp[:8]
        scope = f"{day}/{self.region}/s3/aws4_request"
        params = {
            "X-Amz-Algorithm": ALGORITHM,
            "X-Amz-Credential": f"{credentials.access_key}/{scope}",
            "X-Amz-Date": timestamp,
            "X-Amz-Expires": str(self.expires_in),
            "X-Amz-SignedHeaders": "host",
        }
        if credentials.token:
            params["X-Amz-Security-Token"] = credentials.token
        query = "&".join(f"{_encode(k)}={_encode(v)}" for k, v in sorted(params.items()))
        credentials_key = (credentials.access_key, credentials.secret_key, credentials.token)
        if cached is not None and cached.credentials_key == credentials_key and cached.timestamp[:8] == day:
            signing_key = cached.signing_key
        else:
            signing_key = _hmac(("AWS4" + credentials.secret_key).encode(), day)
            for part in (self.region, "s3", "aws4_request"):
                signing_key = _hmac(signing_key, part)
        signer = _KeyedSha256(signing_key) if cached is None or cached.signing_key != signing_key else cached.signer
        second = _Second(epoch, credentials_key, timestamp, scope, query, signing_key, signer)
        with self._lock:
            self._second = second
        return second

    def presign(self, method: str, bucket: str, key: str, now: dt.datetime | None = None,
                checksum_sha256: str | None = None, query: dict[str, str] | None = None) -> str:
        """A URL for one method on `bucket/key` (`key` empty: on the bucket); with
        `checksum_sha256` (base64, see `checksum_sha256()`) the URL carries it as a signed query
        parameter. `query` adds lower-case parameters (a listing's `list-type`, `prefix`...)."""
        second = self._for_second(now)
        signed_query = second.query
        if checksum_sha256 is not None and not query:  # every PUT of a dry run: the short way
            signed_query += f"&{CHECKSUM_PARAMETER}={_quote_base64(checksum_sha256)}"
        elif checksum_sha256 is not None or query:
            extra = dict(query or {})
            if checksum_sha256 is not None:
                extra[CHECKSUM_PARAMETER] = checksum_sha256
            signed_query += _extra_query(extra)
        resource = _resource(bucket, key)
        canonical = f"{method}\n{self.path_prefix}/{resource}\n{signed_query}\nhost:{self.host}\n\nhost\nUNSIGNED-PAYLOAD"
        return f"{self.base}/{resource}?{signed_query}&X-Amz-Signature={self._signature(second, canonical)}"

    def presign_with_checksum_header(self, method: str, bucket: str, key: str, checksum: str,
                                     query: dict[str, str] | None = None, now: dt.datetime | None = None) -> str:
        """A URL that requires the header `x-amz-checksum-sha256: checksum` (signed, as boto3
        signs `ChecksumSHA256` of put_object or upload_part): the store refuses other bytes with
        BadDigest, and a request without the header does not match the signature."""
        second = self._for_second(now)
        headers = f"host;{CHECKSUM_PARAMETER}"
        signed_query = second.query.replace("X-Amz-SignedHeaders=host", "X-Amz-SignedHeaders=" + _encode(headers))
        signed_query += _extra_query(query or {})
        resource = _resource(bucket, key)
        canonical = (f"{method}\n{self.path_prefix}/{resource}\n{signed_query}\nhost:{self.host}\n"
                     f"{CHECKSUM_PARAMETER}:{checksum.strip()}\n\n{headers}\nUNSIGNED-PAYLOAD")
        return f"{self.base}/{resource}?{signed_query}&X-Amz-Signature={self._signature(second, canonical)}"

    def presign_many(self, method: str, bucket: str, keys: list[str],
                     checksums: list[str] | None = None) -> list[str]:
        """`presign(method, bucket, key, checksum_sha256=checksum)` for each key (and the
        checksum at the same position), all signed in the same second: the loop a dry run's
        200,000 URLs go through, with everything they share computed once."""
        second = self._for_second(None)
        if _SAFE_PATH.match(bucket + "".join(keys)):  # one check for all: no key needs quoting
            resources = [f"{bucket}/{key}" for key in keys]
        else:
            resources = [_resource(bucket, key) for key in keys]
        if checksums is None:
            queries = [second.query] * len(keys)
        else:
            queries = [f"{second.query}&{CHECKSUM_PARAMETER}={_quote_base64(c)}" for c in checksums]
        path_head = f"{method}\n{self.path_prefix}/"
        canonical_tail = f"\nhost:{self.host}\n\nhost\nUNSIGNED-PAYLOAD"
        to_sign_head, signer, sha256, base = second.to_sign_head, second.signer, hashlib.sha256, self.base
        urls = []
        for resource, query in zip(resources, queries, strict=True):
            canonical = f"{path_head}{resource}\n{query}{canonical_tail}"
            signature = signer.hexdigest(f"{to_sign_head}{sha256(canonical.encode()).hexdigest()}".encode())
            urls.append(f"{base}/{resource}?{query}&X-Amz-Signature={signature}")
        return urls

    @staticmethod
    def _signature(second: _Second, canonical: str) -> str:
        return second.signer.hexdigest(f"{second.to_sign_head}{hashlib.sha256(canonical.encode()).hexdigest()}".encode())


def _quote_base64(value: str) -> str:
    """`_encode` of a base64 value: only `+`, `/` and `=` need it (three replaces beat a translate)."""
    return value.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")


def _extra_query(extra: dict[str, str]) -> str:
    # Names that start lower-case sort after every "X-Amz-" one: appended in order, the query
    # stays canonical. (partNumber and uploadId start lower-case too.)
    if not all(name[:1].islower() for name in extra):
        raise ValueError("extra query parameters must have lower-case names")
    return "".join(f"&{_encode(k)}={_encode(v)}" for k, v in sorted(extra.items()))


def _resource(bucket: str, key: str) -> str:
    resource = f"{bucket}/{key}" if key else bucket
    if not _SAFE_PATH.match(resource):  # fragment keys never need quoting: skip the cost
        resource = quote(resource, safe="/-_.~")
    return resource
