"""Our SigV4 presigner produces exactly the URLs boto3 produces (the server tests in
test_contract.py prove SeaweedFS accepts them; this proves they are the standard ones)."""

import base64
import datetime as dt
import hashlib
from urllib.parse import parse_qs, quote, urlsplit

import boto3
import pytest
from botocore.config import Config

from registry.storage.sigv4 import PresignerV4

KEY = "objs/alice/" + "a" * 64


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:8333", "https://s3.example.org", "https://s3.example.org:443",
                                      "http://localhost:9000/prefix"])
@pytest.mark.parametrize("token", [None, "session/token+="])
@pytest.mark.parametrize("operation,method", [("get_object", "GET"), ("put_object", "PUT"), ("head_object", "HEAD")])
def test_same_url_as_boto3(endpoint, token, operation, method):
    session = boto3.session.Session(aws_access_key_id="AKID", aws_secret_access_key="secret/+key",
                                    aws_session_token=token, region_name="eu-west-1")
    client = session.client("s3", endpoint_url=endpoint,
                            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
    expected = urlsplit(client.generate_presigned_url(operation, Params={"Bucket": "bkt", "Key": KEY}, ExpiresIn=600))
    query = parse_qs(expected.query)
    signed_at = dt.datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc)
    presigner = PresignerV4(endpoint, "eu-west-1", lambda: session.get_credentials().get_frozen_credentials(), 600)
    ours = urlsplit(presigner.presign(method, "bkt", KEY, signed_at))
    assert ours._replace(query="") == expected._replace(query="")
    assert parse_qs(ours.query) == query


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:8333", "https://s3.example.org", "http://localhost:9000/prefix"])
@pytest.mark.parametrize("token", [None, "session/token+="])
def test_checksum_parameter_signed_as_botocore_signs_it(endpoint, token):
    # boto3's generate_presigned_url signs a checksum only as a header; botocore's own query
    # signer, given a PUT whose URL carries the parameter already, is the reference.
    from botocore.auth import S3SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from registry.storage.sigv4 import checksum_sha256

    digest = hashlib.sha256(b"fragment bytes").hexdigest()
    value = checksum_sha256(digest)
    assert value == base64.b64encode(bytes.fromhex(digest)).decode()
    assert "+" in value or "/" in value or "=" in value  # encoding is exercised
    credentials = Credentials("AKID", "secret/+key", token)
    request = AWSRequest(method="PUT", url=f"{endpoint}/bkt/{KEY}?x-amz-checksum-sha256={quote(value, safe='')}")
    S3SigV4QueryAuth(credentials, "s3", "eu-west-1", expires=600).add_auth(request)
    expected = urlsplit(request.url)
    query = parse_qs(expected.query)
    signed_at = dt.datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc)
    presigner = PresignerV4(endpoint, "eu-west-1", lambda: credentials.get_frozen_credentials(), 600)
    ours = urlsplit(presigner.presign("PUT", "bkt", KEY, signed_at, checksum_sha256=value))
    assert ours._replace(query="") == expected._replace(query="")
    assert parse_qs(ours.query) == query
    assert query["x-amz-checksum-sha256"] == [value]


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:8333", "https://s3.example.org", "http://localhost:9000/prefix"])
@pytest.mark.parametrize("token", [None, "session/token+="])
@pytest.mark.parametrize("operation", ["put_object", "upload_part"])
def test_checksum_header_signed_as_boto3_signs_it(endpoint, token, operation):
    """Transfers v2: single PUTs and parts carry `x-amz-checksum-sha256` as a signed header."""
    session = boto3.session.Session(aws_access_key_id="AKID", aws_secret_access_key="secret/+key",
                                    aws_session_token=token, region_name="eu-west-1")
    client = session.client("s3", endpoint_url=endpoint,
                            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
    checksum = base64.b64encode(hashlib.sha256(b"part").digest()).decode()
    params = {"Bucket": "bkt", "Key": KEY, "ChecksumSHA256": checksum}
    query = {}
    if operation == "upload_part":
        params.update(UploadId="2~upload/id+=", PartNumber=7)
        query = {"uploadId": "2~upload/id+=", "partNumber": "7"}
    expected = urlsplit(client.generate_presigned_url(operation, Params=params, ExpiresIn=600))
    signed_at = dt.datetime.strptime(parse_qs(expected.query)["X-Amz-Date"][0],
                                     "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc)
    presigner = PresignerV4(endpoint, "eu-west-1", lambda: session.get_credentials().get_frozen_credentials(), 600)
    ours = urlsplit(presigner.presign_with_checksum_header("PUT", "bkt", KEY, checksum, query, signed_at))
    assert ours._replace(query="") == expected._replace(query="")
    assert parse_qs(ours.query) == parse_qs(expected.query)
    assert parse_qs(ours.query)["X-Amz-SignedHeaders"] == ["host;x-amz-checksum-sha256"]


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:8333", "http://localhost:9000/prefix"])
@pytest.mark.parametrize("with_checksums", [False, True])
def test_many_urls_signed_at_once_are_the_single_ones(endpoint, with_checksums):
    """A dry run signs its URLs in one `presign_many` loop: each is the URL `presign` gives, also
    for keys that need quoting (mixed with ones that do not)."""
    from registry.storage.sigv4 import checksum_sha256

    session = boto3.session.Session(aws_access_key_id="AKID", aws_secret_access_key="secret/+key",
                                    region_name="eu-west-1")
    presigner = PresignerV4(endpoint, "eu-west-1", lambda: session.get_credentials().get_frozen_credentials(), 600)
    digests = [hashlib.sha256(bytes([i])).hexdigest() for i in range(40)]
    keys = [f"objs/alice/{d}" for d in digests[:-1]] + ["objs/odd name+é/" + digests[-1]]
    checksums = [checksum_sha256(d) for d in digests] if with_checksums else None
    for attempt in range(3):  # the second may turn between the two signings: sign both again
        before = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        many = presigner.presign_many("PUT", "bkt", keys, checksums)
        single = [presigner.presign("PUT", "bkt", key, before, checksum_sha256=None if checksums is None else checksums[i])
                  for i, key in enumerate(keys)]
        if dt.datetime.now(dt.timezone.utc).replace(microsecond=0) == before:
            break
    assert many == single
    assert len(set(many)) == len(keys)
    assert "odd%20name%2B%C3%A9" in many[-1]
