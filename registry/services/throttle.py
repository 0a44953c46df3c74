"""Throttling of the doors a guesser knocks on: sign-in, `/api/token`, sign-up and the code page.

Every try of an action counts against the account it names and against the client address it
came from, in a window that starts with the first try. A try is counted *before* the check, so
concurrent guesses cannot all slip through, and a successful sign-in or token exchange gives its
try back: for those two the limits count failures; sign-ups and codes count every try. A refused
try is answered 429 before any password or code is checked, and does not count.

Which limits refuse a try: the address limit, always; for sign-up and the code page, the
account limit too. Sign-in also counts an account's failures per address (the pair), refuses a
try once its pair is over the account limit, and lets the account limit alone refuse only an
address that has failed for that account in the window. A limit every address obeyed would let
anyone lock the owner out with ten wrong passwords from anywhere; this way one address gets the
account limit in guesses, a guesser spread over many addresses gets one guess per address once
the account is over its limit (each address still capped by its own limit), and the owner, at an
address with no failures, still gets her password checked. `/api/token` counts per address only
(a code names no account until it matches). Sign-up's account is a name nobody owns yet and the
code page's the one the client is signed in as, so those account limits lock no one else out.

The counters live where every worker and every host sees them: the database by default, each
try's counting in one short transaction committed at once (the request that failed rolls its own
work back, but its count must stay), or Redis when REGISTRY_RATELIMIT_STORAGE_URL names one.
A key is an HMAC of action, kind and value under the server secret: the store holds no names or
addresses, and two registries that share one Redis never share counters.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import math
import random

from sqlalchemy import case, delete, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..config import Settings
from ..db import utcnow
from ..errors import StorageUnavailable, TooManyRequests
from ..models import ThrottleCounter
from ..read_cache import unseen_by_cached_reads

LOGIN, TOKEN, SIGNUP, CODE = "login", "token", "signup", "code"
ACCOUNT, ADDRESS = "account", "address"
PAIR = "pair"  # one account's tries from one address; limited like the account
# Actions whose account limit refuses only addresses that failed for the account (see above).
SPARES_CLEAN_ADDRESSES = frozenset({LOGIN})
# New database counters sweep away expired ones now and then (`registry tokens purge` does it all).
SWEEP_CHANCE = 0.05
REDIS_TIMEOUT_SECONDS = 2


@dataclasses.dataclass(frozen=True)
class Count:
    hits: int
    reset_in: float  # seconds until the window ends


class DatabaseCounters:
    """One row per key; an atomic UPDATE counts, so concurrent tries never lose a hit, and one
    transaction counts all the keys of a try (locked in key order), so concurrent tries reach
    every counter they share in the same order."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def get(self, key: str) -> Count | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(ThrottleCounter.hits, ThrottleCounter.expires_at)
                                     .where(ThrottleCounter.key == key)).first()
        return _count(row, utcnow())

    def add(self, keys: list[str], window: int, within: Session | None = None) -> list[Count]:
        if within is not None:  # a conflicting first insert: the unit of work runs the view again
            return self._add_all(within.connection(), keys, window)
        for attempt in range(3):
            try:
                # No cached read looks at counters: a flood of failed sign-ins must not keep
                # every worker's read cache empty (registry.read_cache).
                with unseen_by_cached_reads(), self.engine.begin() as connection:
                    return self._add_all(connection, keys, window)
            except IntegrityError:  # a concurrent first try inserted a row: count on it
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _add_all(self, connection: Connection, keys: list[str], window: int) -> list[Count]:
        counts = {key: self._add(connection, key, window) for key in sorted(keys)}
        return [counts[key] for key in keys]

    @staticmethod
    def _add(connection: Connection, key: str, window: int) -> Count:
        now = utcnow()
        counter = ThrottleCounter
        live = counter.expires_at > now
        # MySQL assigns left to right, reading the columns already assigned; SQLite reads the old
        # row. Every CASE tests expires_at, assigned last, so both read the old row.
        matched = connection.execute(
            update(counter).where(counter.key == key).ordered_values(
                (counter.hits, case((live, counter.hits + 1), else_=1)),
                (counter.started_at, case((live, counter.started_at), else_=now)),
                (counter.expires_at, case((live, counter.expires_at),
                                          else_=now + dt.timedelta(seconds=window))))).rowcount
        if not matched:
            connection.execute(insert(counter).values(key=key, hits=1, started_at=now,
                                                      expires_at=now + dt.timedelta(seconds=window)))
            if random.random() < SWEEP_CHANCE:
                connection.execute(delete(counter).where(counter.expires_at <= now))
        row = connection.execute(select(counter.hits, counter.expires_at).where(counter.key == key)).one()
        return _count(row, now)

    def give_back(self, keys: list[str], within: Session | None = None) -> None:
        counter = ThrottleCounter
        statement = (update(counter).where(counter.key.in_(keys), counter.hits > 0, counter.expires_at > utcnow())
                     .values(hits=counter.hits - 1))
        if within is not None:
            within.execute(statement)
            return
        with unseen_by_cached_reads(), self.engine.begin() as connection:
            connection.execute(statement)


def _count(row, now: dt.datetime) -> Count | None:
    if row is None or row.expires_at <= now:
        return None
    return Count(hits=row.hits, reset_in=(row.expires_at - now).total_seconds())


# Atomic in Redis: count every key of a try, and start a window on its first hit.
_REDIS_ADD = """
local counts = {}
for _, key in ipairs(KEYS) do
  local hits = redis.call('INCR', key)
  local ttl = redis.call('PTTL', key)
  if ttl < 0 then
    redis.call('PEXPIRE', key, ARGV[1])
    ttl = tonumber(ARGV[1])
  end
  table.insert(counts, hits)
  table.insert(counts, ttl)
end
return counts
"""
_REDIS_GIVE_BACK = """
for _, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') > 0 then redis.call('DECR', key) end
end
return 0
"""


class RedisCounters:
    """Keys (`registry:throttle:<hmac>`) expire with their window, so Redis needs no upkeep."""

    prefix = "registry:throttle:"

    def __init__(self, url: str):
        import redis

        self._errors = redis.RedisError
        self.client = redis.Redis.from_url(url, socket_timeout=REDIS_TIMEOUT_SECONDS,
                                           socket_connect_timeout=REDIS_TIMEOUT_SECONDS)
        self._add = self.client.register_script(_REDIS_ADD)
        self._give_back = self.client.register_script(_REDIS_GIVE_BACK)

    def _call(self, function, *args, **kwargs):
        try:
            return function(*args, **kwargs)
        except self._errors as exc:
            # Closed, not open: while Redis is away these doors answer 503 rather than let guesses through.
            raise StorageUnavailable(f"The rate-limit store (Redis) is not available right now: {exc}",
                                     headers={"Retry-After": "5"}) from None

    def get(self, key: str) -> Count | None:
        key = self.prefix + key
        hits, ttl = self._call(lambda: self.client.pipeline().get(key).pttl(key).execute())
        if hits is None or ttl is None or ttl <= 0:
            return None
        return Count(hits=int(hits), reset_in=ttl / 1000)

    def add(self, keys: list[str], window: int, within: Session | None = None) -> list[Count]:
        flat = self._call(self._add, keys=[self.prefix + key for key in keys], args=[window * 1000])
        return [Count(hits=int(hits), reset_in=int(ttl) / 1000) for hits, ttl in zip(flat[::2], flat[1::2])]

    def give_back(self, keys: list[str], within: Session | None = None) -> None:
        self._call(self._give_back, keys=[self.prefix + key for key in keys])


class Attempt:
    """The counted try of one request; `succeeded()` gives it back."""

    def __init__(self, counters, keys: list[str]):
        self._counters = counters
        self._keys = keys

    def succeeded(self, within: Session | None = None) -> None:
        """Give the try back; `within`: in that session's transaction, so only if the success
        commits (and without a second writer while it may hold SQLite's write lock)."""
        if self._keys:
            self._counters.give_back(self._keys, within)
        self._keys = []


class Throttle:
    def __init__(self, settings: Settings, engine: Engine, secret_key: str):
        self.window = settings.throttle_window_seconds
        self.limits = {ACCOUNT: settings.throttle_account_limit, ADDRESS: settings.throttle_address_limit}
        self._secret = secret_key.encode()
        url = settings.ratelimit_storage_url
        self.counters = RedisCounters(url) if url else DatabaseCounters(engine)

    def key(self, action: str, kind: str, value: str) -> str:
        message = f"{action}\0{kind}\0{value}".encode("utf-8", "surrogatepass")
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def attempt(self, action: str, *, address: str | None, account: str | None = None,
                within: Session | None = None) -> Attempt:
        """Count one try of `action`; TooManyRequests when it is over a limit (a refused try
        checks nothing, so it does not count). `within`: count in that session's transaction,
        kept only if it commits (Redis counts at once either way); for a try that only counts
        when it succeeds, in a request whose session may already hold SQLite's write lock."""
        keyed = self._keyed(action, account, address)
        keys = [key for key, _ in keyed.values()]
        if not keys:
            return Attempt(self.counters, [])
        # A read first: a flood of refused tries writes nothing.
        before = {kind: self.counters.get(key) for kind, (key, _) in keyed.items()}
        refusal = self._refusal(keyed, before, counted=False)
        if refusal is not None:
            raise refusal
        attempt = Attempt(self.counters, keys)
        after = dict(zip(keyed, self.counters.add(keys, self.window, within)))
        refusal = self._refusal(keyed, after, counted=True)
        if refusal is not None:
            if within is None or not isinstance(self.counters, DatabaseCounters):
                attempt.succeeded()  # counted at once: give the refused try back (else the rollback does)
            raise refusal
        return attempt

    def _keyed(self, action: str, account: str | None, address: str | None) -> dict[str, tuple[str, int]]:
        """The counters this try counts on: kind -> (key, limit)."""
        values = {ACCOUNT: account, ADDRESS: address}
        limits = dict(self.limits)
        if action in SPARES_CLEAN_ADDRESSES and account is not None and address is not None:
            values[PAIR] = f"{address}\0{account}"  # an address holds no NUL: unambiguous
            limits[PAIR] = limits[ACCOUNT]
        return {kind: (self.key(action, kind, value), limits[kind])
                for kind, value in values.items() if value is not None and limits[kind] > 0}

    def _refusal(self, keyed: dict[str, tuple[str, int]], counts: dict[str, Count | None],
                 *, counted: bool) -> TooManyRequests | None:
        """The refusal for a try, if any, given its counters before it counted or after."""
        mine = 1 if counted else 0
        earlier = {kind: (count.hits - mine if count is not None else 0) for kind, count in counts.items()}
        over = [kind for kind, (_, limit) in keyed.items() if earlier[kind] >= limit]
        if PAIR in keyed and earlier[PAIR] == 0 and ACCOUNT in over:
            over.remove(ACCOUNT)  # an address with no failures for this account is still served
        if not over:
            return None
        kind = max(over, key=lambda kind: counts[kind].reset_in)
        return _too_many(keyed[kind][1], self.window, counts[kind])


def _too_many(limit: int, window: int, count: Count) -> TooManyRequests:
    seconds = max(1, math.ceil(count.reset_in))
    return TooManyRequests(
        f"Too many attempts. Try again in {seconds} seconds.",
        headers={"Retry-After": str(seconds), "RateLimit-Limit": str(limit), "RateLimit-Remaining": "0",
                 "RateLimit-Reset": str(seconds), "RateLimit-Policy": f"{limit};w={window}"})


def throttle_for(app) -> Throttle:
    """The app's throttle, made on first use (after gunicorn forks, so no worker shares another's
    Redis connections)."""
    found = app.extensions.get("throttle")
    if found is None:
        registry = app.extensions["registry"]
        found = app.extensions.setdefault("throttle", Throttle(registry.settings, registry.engine,
                                                               registry.secret_key))
    return found


def purge_counters(session: Session) -> int:
    """Delete expired database counters."""
    return session.execute(delete(ThrottleCounter).where(ThrottleCounter.expires_at <= utcnow())).rowcount
