"""Listing pages are read straight from S3's XML (registry.storage.s3_listing.keys_and_sizes): the
usual page by two plain searches, anything unusual object by object. Both must give the same."""

from __future__ import annotations

from registry.storage.s3_listing import keys_and_sizes

OBJECT = ("<Contents><Key>{key}</Key><LastModified>2026-12-06T00:00:00.000Z</LastModified>"
          "<ETag>&#34;x&#34;</ETag><Size>{size}</Size><StorageClass>STANDARD</StorageClass></Contents>")


def page(objects, extra: str = "") -> str:
    return ('<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>b</Name><Prefix>p/</Prefix>'
            f"<KeyCount>{len(objects)}</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>"
            + "".join(OBJECT.format(key=k, size=s) for k, s in objects) + extra + "</ListBucketResult>")


def test_a_usual_page_is_every_key_with_its_size():
    objects = [(f"uploads/alice/{i:032x}/{i:064x}", i * 7) for i in range(1000)]
    assert list(keys_and_sizes(page(objects))) == objects


def test_an_empty_page_is_nothing():
    assert list(keys_and_sizes(page([]))) == []


def test_an_object_without_a_size_or_a_stray_key_is_read_object_by_object():
    objects = [("a/1", 1), ("a/2", 22)]
    sizeless = "<Contents><Key>a/odd</Key></Contents>"
    assert list(keys_and_sizes(page(objects, sizeless))) == objects
    stray = "<CommonPrefixes><Key>not an object</Key></CommonPrefixes>"
    assert list(keys_and_sizes(page(objects, stray))) == objects
