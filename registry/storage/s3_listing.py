"""The listings the registry makes itself (a push's upload batch, staged fragments, an owner's
prefix): plain GETs of ListObjectsV2 pages, read straight from the XML, because botocore's
parser costs five times what S3 does; a large prefix is listed in 16 parts at once.

A page that S3 does not answer in time, or answers with a 5xx (SlowDown, InternalError), is asked
for again as boto3's standard retry mode would, up to the store's number of tries: a push of
100,000 fragments reads 20 pages or more, and one slow page must not fail it."""

from __future__ import annotations

import itertools
import logging
import os
import random
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator

import requests

from ..errors import StorageAccessDenied, StorageUnavailable
from .sigv4 import PresignerV4

log = logging.getLogger(__name__)

# A prefix expected to hold more than this is listed in 16 parts at once, one per first hex digit.
PARALLEL_LISTING = 4000
LISTING_THREADS = 16
# Keys per page asked for: S3 answers at most 1,000, stores that allow more (SeaweedFS) answer
# a push's 100,000 keys in a fifth of the pages, for a third less of the worker's CPU.
MAX_KEYS = "5000"
RETRIED_STATUSES = frozenset({500, 502, 503, 504})
MAX_BACKOFF_SECONDS = 20  # boto3's standard mode: a random wait below 1, 2, 4... seconds, at most this

_CONTENTS = re.compile(r"<Contents>.*?<Key>([^<]*)</Key>.*?<Size>(\d+)</Size>.*?</Contents>", re.DOTALL)
_KEY = re.compile(r"<Key>([^<]*)</Key>")
_SIZE = re.compile(r"<Size>(\d+)</Size>")
_NEXT_TOKEN = re.compile(r"<NextContinuationToken>([^<]*)</NextContinuationToken>")
_TRUNCATED = re.compile(r"<IsTruncated>true</IsTruncated>")


def keys_and_sizes(page: str) -> Iterator[tuple[str, int]]:
    """The (key, size) of each object of a listing page, in C rather than a step per key (a
    push's listing holds 100,000): Key and Size appear once in each Contents and nowhere
    else, so two plain searches pair up; anything else is read object by object."""
    keys, sizes = _KEY.findall(page), _SIZE.findall(page)
    if len(keys) != len(sizes) or len(keys) != page.count("<Contents>"):
        pairs = _CONTENTS.findall(page)
        keys, sizes = zip(*pairs) if pairs else ((), ())
    return zip(keys, map(int, sizes))


class PrefixLister:
    def __init__(self, bucket: str, signer: PresignerV4, timeouts: tuple[float, float], max_attempts: int):
        self.bucket = bucket
        self.signer = signer
        self.timeouts = timeouts
        self.max_attempts = max(1, max_attempts)
        self._http = threading.local()
        self._pool: tuple[ThreadPoolExecutor | None, int | None] = (None, None)
        self._pool_lock = threading.Lock()

    def list(self, prefix: str, expected: int | None = None) -> list[tuple[str, int]]:
        """(key, size) of every object under `prefix`; in 16 listings at once when more than
        PARALLEL_LISTING are expected."""
        parts = [prefix + digit for digit in "0123456789abcdef"] if (expected or 0) > PARALLEL_LISTING else [prefix]
        return list(itertools.chain.from_iterable(self._threads().map(self.pages, parts)))

    def _threads(self) -> ThreadPoolExecutor:
        """The threads that list, kept by the process (made again after a fork): each keeps its
        HTTP session, so a push's listing reuses open connections instead of opening 16."""
        pool, pid = self._pool
        if pid != os.getpid():
            with self._pool_lock:
                pool, pid = self._pool
                if pid != os.getpid():
                    pool = ThreadPoolExecutor(max_workers=LISTING_THREADS, thread_name_prefix="s3-listing")
                    self._pool = (pool, os.getpid())
        return pool

    def pages(self, prefix: str) -> list[tuple[str, int]]:
        """Every page of one listing, in order."""
        found, token = [], None
        while True:
            query = {"list-type": "2", "prefix": prefix, "max-keys": MAX_KEYS,
                     **({"continuation-token": token} if token else {})}
            page = self._page(query)
            found.extend(keys_and_sizes(page))
            match = _NEXT_TOKEN.search(page)
            if not (_TRUNCATED.search(page) and match):
                return found
            token = match.group(1)

    def _page(self, query: dict[str, str]) -> str:
        session = getattr(self._http, "session", None)
        if session is None:
            session = self._http.session = requests.Session()
        for attempt in itertools.count(1):
            last = attempt >= self.max_attempts
            url = self.signer.presign("GET", self.bucket, "", query=query)  # signed again for each try
            try:
                response = session.get(url, timeout=self.timeouts)
                # S3 answers UTF-8 (requests would guess the charset of each page).
                page = response.content.decode("utf-8", "replace")
            except requests.RequestException as exc:  # no answer in time, a dropped connection
                if last:
                    raise StorageUnavailable(f"Blob storage did not answer (list): {exc}") from exc
                failure = type(exc).__name__
            else:
                if response.status_code == 200:
                    return page
                if response.status_code == 403:
                    raise StorageAccessDenied("Blob storage refused the registry a listing: HTTP 403")
                if last or response.status_code not in RETRIED_STATUSES:
                    raise StorageUnavailable(f"Blob storage refused a listing: HTTP {response.status_code}")
                failure = f"HTTP {response.status_code}"
            log.warning("S3 listing page of %s: %s on try %d of %d; trying again", query["prefix"], failure,
                        attempt, self.max_attempts)
            time.sleep(random.random() * min(MAX_BACKOFF_SECONDS, 2 ** (attempt - 1)))
