"""Fragments in an S3 bucket; clients move the bytes through boto3 presigned URLs."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Iterable, Iterator

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from ..errors import StorageUnavailable
from .base import BlobStore, object_key
from .sigv4 import PresignerV4

# Above this many fragments one listing of the owner's prefix beats a HEAD per fragment.
LIST_THRESHOLD = 500


def _client(session: boto3.session.Session, endpoint_url: str):
    # SigV4 always: against a custom endpoint boto3 may otherwise sign legacy SigV2 URLs.
    config = Config(signature_version="s3v4", s3={"addressing_style": "path"},
                    retries={"max_attempts": 3, "mode": "standard"}, max_pool_connections=32)
    return session.client("s3", endpoint_url=endpoint_url or None, config=config)


class S3BlobStore(BlobStore):
    def __init__(self, bucket: str, *, endpoint_url: str = "", public_endpoint_url: str = "",
                 region: str = "us-east-1", expiry_seconds: int = 86400, access_key_id: str = "",
                 secret_access_key: str = ""):
        self.bucket = bucket
        credentials = ({"aws_access_key_id": access_key_id, "aws_secret_access_key": secret_access_key}
                       if access_key_id else {})
        self.session = boto3.session.Session(region_name=region, **credentials)
        self.client = _client(self.session, endpoint_url)
        # The host is part of the signature, so URLs for clients are signed for the host they use.
        self.presigner = PresignerV4(public_endpoint_url or self.client.meta.endpoint_url, region,
                                     self._credentials, expiry_seconds)

    def _credentials(self):
        credentials = self.session.get_credentials()
        if credentials is None:
            raise StorageUnavailable("No S3 credentials: set REGISTRY_S3_ACCESS_KEY_ID/REGISTRY_S3_SECRET_ACCESS_KEY "
                                     "or the standard AWS variables")
        return credentials.get_frozen_credentials()

    def create_bucket(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError:
            self.client.create_bucket(Bucket=self.bucket)

    def upload_urls(self, owner: str, hash_: str) -> dict[str, str]:
        key = object_key(owner, hash_)
        return {"head": self.presigner.presign("HEAD", self.bucket, key),
                "put": self.presigner.presign("PUT", self.bucket, key)}

    def download_url(self, owner: str, hash_: str) -> str:
        return self.presigner.presign("GET", self.bucket, object_key(owner, hash_))

    def sizes(self, owner: str, hashes: Iterable[str]) -> dict[str, int]:
        wanted = set(hashes)
        try:
            if len(wanted) > LIST_THRESHOLD:
                return self._sizes_by_listing(owner, wanted)
            with ThreadPoolExecutor(max_workers=16) as pool:
                found = pool.map(lambda h: (h, self._head_size(owner, h)), wanted)
                return {h: size for h, size in found if size is not None}
        except (BotoCoreError, ClientError) as exc:
            raise StorageUnavailable(f"Blob storage did not answer: {exc}") from exc

    def _head_size(self, owner: str, hash_: str) -> int | None:
        try:
            return self.client.head_object(Bucket=self.bucket, Key=object_key(owner, hash_))["ContentLength"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def _sizes_by_listing(self, owner: str, wanted: set[str]) -> dict[str, int]:
        prefix = object_key(owner, "")
        found = {}
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", ()):
                hash_ = item["Key"][len(prefix):]
                if hash_ in wanted:
                    found[hash_] = item["Size"]
        return found

    def read(self, owner: str, hash_: str, limit: int) -> bytes:
        # The first bytes, not the last (the original's suffix range read the tail: protocol.md 14.7).
        response = self.client.get_object(Bucket=self.bucket, Key=object_key(owner, hash_), Range=f"bytes=0-{limit - 1}")
        return response["Body"].read()

    def stream(self, owner: str, hash_: str) -> Iterator[bytes]:
        body = self.client.get_object(Bucket=self.bucket, Key=object_key(owner, hash_))["Body"]
        yield from body.iter_chunks(1024 * 1024)

    def delete(self, owner: str, hash_: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=object_key(owner, hash_))

    def check(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (BotoCoreError, ClientError) as exc:
            raise StorageUnavailable(f"Bucket {self.bucket} is not reachable: {exc}") from exc
