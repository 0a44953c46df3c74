"""How long it takes to sign the URLs of a dry run: boto3's generate_presigned_url (baseline)
against registry.storage.sigv4 (what the S3 store uses). No network: signing is local.

    python benchmarks/presign.py [--urls 20000]
"""

from __future__ import annotations

import argparse
import time

import boto3
from botocore.config import Config

from registry.storage.sigv4 import PresignerV4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--urls", type=int, default=20000)
    count = parser.parse_args().urls
    session = boto3.session.Session(aws_access_key_id="AKID", aws_secret_access_key="secret", region_name="us-east-1")
    client = session.client("s3", endpoint_url="http://127.0.0.1:8333",
                            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
    presigner = PresignerV4("http://127.0.0.1:8333", "us-east-1",
                            lambda: session.get_credentials().get_frozen_credentials(), 86400)
    keys = [f"objs/alice/{i:064x}" for i in range(count)]

    start = time.perf_counter()
    for key in keys:
        client.generate_presigned_url("put_object", Params={"Bucket": "b", "Key": key}, ExpiresIn=86400)
    baseline = time.perf_counter() - start
    start = time.perf_counter()
    for key in keys:
        presigner.presign("PUT", "b", key)
    ours = time.perf_counter() - start

    print(f"{'signer':<28}{'URLs':>8}{'seconds':>10}{'µs/URL':>10}")
    print(f"{'boto3 generate_presigned_url':<28}{count:>8}{baseline:>10.2f}{baseline / count * 1e6:>10.1f}")
    print(f"{'registry PresignerV4':<28}{count:>8}{ours:>10.2f}{ours / count * 1e6:>10.1f}")
    print(f"speed-up: {baseline / ours:.1f}x; a 100,000-fragment dry run (200,000 URLs) signs in "
          f"{ours / count * 200000:.1f} s instead of {baseline / count * 200000:.1f} s")


if __name__ == "__main__":
    main()
