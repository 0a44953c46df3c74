"""Blob storage: `make_store(settings)` picks the implementation."""

from __future__ import annotations

from ..config import Settings
from .base import BlobStore, object_key
from .local import LocalBlobStore
from .s3 import S3BlobStore

__all__ = ["BlobStore", "LocalBlobStore", "S3BlobStore", "make_store", "object_key"]


def make_store(settings: Settings, secret_key: str) -> BlobStore:
    if settings.storage == "s3":
        store = S3BlobStore(settings.s3_bucket, endpoint_url=settings.s3_endpoint_url,
                            public_endpoint_url=settings.s3_public_endpoint_url,
                            region=settings.s3_region, expiry_seconds=settings.url_expiry_seconds,
                            access_key_id=settings.s3_access_key_id,
                            secret_access_key=settings.s3_secret_access_key,
                            connect_timeout=settings.s3_connect_timeout, read_timeout=settings.s3_read_timeout,
                            max_attempts=settings.s3_max_attempts, check_timeout=settings.healthcheck_timeout,
                            signed_checksums=settings.s3_signed_checksums,
                            copy_part_bytes=settings.s3_copy_part_bytes)
        if settings.s3_create_bucket:
            store.create_bucket()
        return store
    return LocalBlobStore(settings.blob_dir, secret_key, public_url=settings.public_url,
                          expiry_seconds=settings.url_expiry_seconds)
