"""Throttling of sign-in, /api/token, sign-up and the code page, on the database and on Redis
(127.0.0.1:6379), shared by every app on the same store; sign-in timing; failed sign-ins in the
audit trail."""

from __future__ import annotations

import concurrent.futures
import re
import secrets
import statistics
import threading
import time

import pytest
from sqlalchemy import func, select

from registry import Settings, create_app
from registry.models import Event, ThrottleCounter
from tests.helpers import TestRegistry

PASSWORD = "correct horse"
REDIS_URL = "redis://127.0.0.1:6379/0"
RATELIMIT_HEADERS = ("Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")


@pytest.fixture(params=["database", "redis"])
def throttled_settings(request, settings) -> Settings:
    """The test's settings on each counter store; a fresh secret keys fresh Redis counters."""
    store = REDIS_URL if request.param == "redis" else ""
    return Settings(**{**settings.__dict__, "ratelimit_storage_url": store, "secret_key": secrets.token_urlsafe(48)})


def make_registry(settings: Settings, **overrides) -> TestRegistry:
    return TestRegistry(create_app(Settings(**{**settings.__dict__, **overrides})))


@pytest.fixture
def registries():
    made = []

    def make(settings: Settings, **overrides) -> TestRegistry:
        made.append(make_registry(settings, **overrides))
        return made[-1]

    yield make
    for registry in made:
        registry.state.engine.dispose()


def client_at(registry: TestRegistry, address: str):
    client = registry.app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def sign_in(client, name: str, password: str):
    form = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.get_data(as_text=True)).group(1)
    return client.post("/login", data={"username": name, "password": password, "csrf_token": token})


def assert_throttled(response, limit: int, *, api: bool):
    assert response.status_code == 429
    headers = {name: response.headers.get(name) for name in RATELIMIT_HEADERS}
    retry_after = int(headers["Retry-After"])
    assert 0 < retry_after <= 900
    assert headers == {"Retry-After": str(retry_after), "RateLimit-Limit": str(limit), "RateLimit-Remaining": "0",
                       "RateLimit-Reset": str(retry_after)}
    message = f"Too many attempts. Try again in {retry_after} seconds."
    if api:
        assert response.get_json() == {"message": message, "code": "too_many_requests", "status": 429}
    else:
        assert response.mimetype == "text/html" and message in response.get_data(as_text=True)


def test_eleventh_wrong_password_is_refused_with_headers(throttled_settings, registries):
    registry = registries(throttled_settings)
    registry.create_user("alice", password=PASSWORD)
    client = registry.client
    for _ in range(10):  # the default: 10 failures per account per 15 minutes
        assert sign_in(client, "alice", "wrong password").status_code == 401
    assert_throttled(sign_in(client, "alice", "wrong password"), 10, api=False)
    # From this address even the right password is now refused: nothing is checked.
    assert_throttled(sign_in(client, "alice", PASSWORD), 10, api=False)
    assert "login-code" not in client.get("/login").get_data(as_text=True)
    # Another account from the same address is still served.
    registry.create_user("bob", password=PASSWORD)
    assert sign_in(client, "bob", PASSWORD).status_code == 302


def test_a_guesser_cannot_lock_the_owner_out(throttled_settings, registries):
    """The reviewer's repro: ten wrong passwords from one address kept the owner out everywhere."""
    registry = registries(throttled_settings)
    registry.create_user("alice", password=PASSWORD)
    attacker = client_at(registry, "203.0.113.9")
    for _ in range(10):
        assert sign_in(attacker, "alice", "wrong password").status_code == 401
    assert_throttled(sign_in(attacker, "alice", "wrong password"), 10, api=False)
    assert_throttled(sign_in(attacker, "alice", PASSWORD), 10, api=False)
    # The owner, at an address with no failures for her, is still checked, and gets her code.
    owner = client_at(registry, "198.51.100.7")
    assert sign_in(owner, "alice", PASSWORD).status_code == 302
    assert "login-code" in owner.get("/login").get_data(as_text=True)
    assert sign_in(client_at(registry, "198.51.100.7"), "alice", PASSWORD).status_code == 302
    # A second guessing address gets one guess while the account is over its limit, then none.
    second = client_at(registry, "192.0.2.50")
    assert sign_in(second, "alice", "another guess").status_code == 401
    assert_throttled(sign_in(second, "alice", "a third guess"), 10, api=False)
    assert_throttled(sign_in(second, "alice", PASSWORD), 10, api=False)
    assert_throttled(sign_in(attacker, "alice", PASSWORD), 10, api=False)
    # Each of the eleven failures checked is an audit event; the refused tries checked nothing.
    with registry.state.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Event).where(Event.type == "LOGIN_FAILED")) == 11


def test_an_account_over_its_limit_refuses_addresses_that_failed_for_it(throttled_settings, registries):
    """Below the per-pair limit, but the account is over its own: a failed address is refused."""
    registry = registries(throttled_settings, throttle_account_limit=3)
    registry.create_user("alice", password=PASSWORD)
    owner = client_at(registry, "198.51.100.7")
    assert sign_in(owner, "alice", "typo").status_code == 401
    for address in ("203.0.113.1", "203.0.113.2"):
        assert sign_in(client_at(registry, address), "alice", "guess").status_code == 401
    # Three failures: the account is at its limit; the owner failed once, so she waits too.
    assert_throttled(sign_in(owner, "alice", PASSWORD), 3, api=False)
    # Other accounts from her address are served, and so is a clean address for hers.
    registry.create_user("bob", password=PASSWORD)
    assert sign_in(client_at(registry, "198.51.100.7"), "bob", PASSWORD).status_code == 302
    assert sign_in(client_at(registry, "198.51.100.8"), "alice", PASSWORD).status_code == 302


def guesses_at_once(clients: list, username: str) -> list[int]:
    """One wrong password from each client, all released at the same instant; sorted statuses."""
    tokens = [re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").get_data(as_text=True)).group(1)
              for c in clients]
    barrier = threading.Barrier(len(clients))

    def guess(index: int) -> int:
        barrier.wait()
        return clients[index].post("/login", data={"username": username, "password": f"guess {index}",
                                                   "csrf_token": tokens[index]}).status_code

    with concurrent.futures.ThreadPoolExecutor(len(clients)) as pool:
        return sorted(pool.map(guess, range(len(clients))))


def test_concurrent_guesses_from_a_clean_address_get_one_check(throttled_settings, registries):
    """Once the account is over its limit, a new address counts before its check too: one of
    eight concurrent guesses from it is checked."""
    registry = registries(throttled_settings, throttle_account_limit=2)
    registry.create_user("alice", password=PASSWORD)
    for _ in range(2):
        assert sign_in(client_at(registry, "203.0.113.9"), "alice", "guess").status_code == 401
    clients = [client_at(registry, "192.0.2.60") for _ in range(8)]
    statuses = guesses_at_once(clients, "alice")
    assert statuses == [401] + [429] * 7


def test_successful_sign_ins_do_not_count(throttled_settings, registries):
    registry = registries(throttled_settings, throttle_account_limit=3)
    registry.create_user("alice", password=PASSWORD)
    for _ in range(2):
        client = registry.app.test_client()
        assert sign_in(client, "alice", "wrong password").status_code == 401
        assert sign_in(client, "alice", PASSWORD).status_code == 302
    # The fifth try and third failure: still served, as each success gave its try back.
    assert sign_in(registry.app.test_client(), "alice", "wrong password").status_code == 401
    assert_throttled(sign_in(registry.app.test_client(), "alice", PASSWORD), 3, api=False)


def test_the_window_ends(throttled_settings, registries):
    registry = registries(throttled_settings, throttle_account_limit=2, throttle_window_seconds=5)
    registry.create_user("alice", password=PASSWORD)
    for _ in range(2):
        assert sign_in(registry.client, "alice", "wrong").status_code == 401
    refused = sign_in(registry.client, "alice", PASSWORD)
    assert refused.status_code == 429 and 1 <= int(refused.headers["Retry-After"]) <= 5
    time.sleep(int(refused.headers["Retry-After"]) + 0.2)
    assert sign_in(registry.client, "alice", PASSWORD).status_code == 302


def test_address_limit_spans_accounts(throttled_settings, registries):
    registry = registries(throttled_settings, throttle_address_limit=4)
    attacker = client_at(registry, "203.0.113.9")
    for number in range(4):  # unknown names: each counts against the address
        assert sign_in(attacker, f"user{number}", "guess").status_code == 401
    assert_throttled(sign_in(attacker, "someone_else", "guess"), 4, api=False)
    # Another address, the same accounts: served.
    assert sign_in(client_at(registry, "198.51.100.1"), "user0", "guess").status_code == 401


def test_limits_are_shared_by_every_app_on_the_store(throttled_settings, registries):
    """Two create_app on one database (or one Redis): two workers, or two hosts."""
    first = registries(throttled_settings, throttle_account_limit=3)
    second = registries(throttled_settings, throttle_account_limit=3)
    first.create_user("alice", password=PASSWORD)
    for registry in (first, second, first):
        assert sign_in(registry.app.test_client(), "alice", "wrong").status_code == 401
    assert_throttled(sign_in(second.app.test_client(), "alice", PASSWORD), 3, api=False)
    assert_throttled(sign_in(first.app.test_client(), "alice", PASSWORD), 3, api=False)


def test_concurrent_guesses_cannot_slip_past_the_limit(throttled_settings, registries):
    """Each try counts before its password is checked, so eight at once get three checks."""
    registry = registries(throttled_settings, throttle_account_limit=3)
    registry.create_user("alice", password=PASSWORD)
    clients = [registry.app.test_client() for _ in range(8)]
    statuses = guesses_at_once(clients, "alice")
    assert statuses == [401] * 3 + [429] * 5


def test_token_exchange_is_throttled_per_address(throttled_settings, registries):
    registry = registries(throttled_settings, throttle_address_limit=3)
    registry.create_user("alice")
    for _ in range(2):
        bad = registry.client.post("/api/token", data={"refresh_token": secrets.token_hex(16)})
        assert (bad.status_code, bad.get_json()["message"]) == (401, "Token invalid.")
    # A good exchange gives its try back...
    assert registry.client.post("/api/token", data={"refresh_token": registry.login_code("alice")}).status_code == 200
    assert registry.client.post("/api/token", data={"refresh_token": "guess"}).status_code == 401
    # ... so this is the fourth failure of three allowed; a real code is refused too.
    assert_throttled(registry.client.post("/api/token", data={"refresh_token": registry.login_code("alice")}), 3,
                     api=True)
    other = client_at(registry, "192.0.2.44").post("/api/token", data={"refresh_token": registry.login_code("alice")})
    assert other.status_code == 200


def test_sign_up_and_code_page_are_throttled(throttled_settings, registries):
    registry = registries(throttled_settings, throttle_account_limit=2, throttle_address_limit=3)
    client = registry.client
    form = client.get("/signup").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    for name in ("ann", "bea", "cid"):  # one invalid (a short password), all count
        password = "x" if name == "ann" else PASSWORD
        response = client.post("/signup", data={"username": name, "password": password, "confirm": password,
                                                "email": "", "csrf_token": csrf})
        assert response.status_code == (400 if name == "ann" else 302)
        client.post("/logout", data={"csrf_token": csrf})
    refused = client.post("/signup", data={"username": "dee", "password": PASSWORD, "confirm": PASSWORD,
                                           "email": "", "csrf_token": csrf})
    assert_throttled(refused, 3, api=False)
    # The code page: two codes per account per window here.
    registry.create_user("eve", password=PASSWORD)
    browser = client_at(registry, "192.0.2.7")
    assert sign_in(browser, "eve", PASSWORD).status_code == 302
    for _ in range(2):
        assert "login-code" in browser.get("/login").get_data(as_text=True)
    assert_throttled(browser.get("/login"), 2, api=False)


def test_a_limit_of_zero_turns_throttling_off(settings, registries):
    registry = registries(settings, throttle_account_limit=0, throttle_address_limit=0)
    registry.create_user("alice", password=PASSWORD)
    for _ in range(11):
        assert sign_in(registry.client, "alice", "wrong").status_code == 401
    assert sign_in(registry.client, "alice", PASSWORD).status_code == 302
    with registry.state.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(ThrottleCounter)) == 0


def test_database_counters_name_no_user_or_address(settings, registries):
    registry = registries(settings, throttle_account_limit=5)
    assert sign_in(client_at(registry, "203.0.113.77"), "mallory", "guess").status_code == 401
    with registry.state.session_factory() as session:
        rows = session.execute(select(ThrottleCounter.key, ThrottleCounter.hits)).all()
    assert sorted(hits for _, hits in rows) == [1, 1, 1]  # the account, it from this address, the address
    assert all(re.fullmatch(r"[0-9a-f]{64}", key) for key, _ in rows)


def test_redis_counters_live_in_redis(settings, registries):
    import redis

    registry = registries(settings, ratelimit_storage_url=REDIS_URL, secret_key=secrets.token_urlsafe(48))
    assert sign_in(client_at(registry, "203.0.113.78"), "mallory", "guess").status_code == 401
    throttle = registry.app.extensions["throttle"]
    keys = [throttle.counters.prefix + throttle.key("login", kind, value)
            for kind, value in (("account", "mallory"), ("pair", "203.0.113.78\0mallory"),
                                ("address", "203.0.113.78"))]
    client = redis.Redis.from_url(REDIS_URL)
    assert [client.get(key) for key in keys] == [b"1", b"1", b"1"]
    assert all(0 < client.ttl(key) <= 900 for key in keys)
    with registry.state.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(ThrottleCounter)) == 0


def test_failed_sign_ins_are_audit_events(registry):
    registry.create_user("alice", password=PASSWORD)
    registry.create_user("root", admin=True)
    assert sign_in(client_at(registry, "203.0.113.5"), "alice", "wrong").status_code == 401
    assert sign_in(client_at(registry, "203.0.113.6"), "Not A Name!", "wrong").status_code == 401
    assert sign_in(registry.client, "alice", PASSWORD).status_code == 302
    events = registry.api("GET", "/api/audit/alice/", token=registry.token("root")).get_json()["events"]
    assert [{k: v for k, v in e.items() if k != "created"} for e in events] == [
        {"user": "alice", "type": "LOGIN_FAILED", "package_owner": "", "package_name": "", "package_hash": None,
         "extra": {"address": "203.0.113.5"}}]
    with registry.state.session_factory() as session:
        unknown = session.scalars(select(Event.extra).where(Event.user.is_(None), Event.type == "LOGIN_FAILED")).all()
        assert unknown == ['{"address": "203.0.113.6", "name": "Not A Name!"}']
        assert session.scalar(select(func.count()).select_from(Event)) == 2
    filtered = registry.api("GET", "/api/audit/alice/?type=LOGIN_FAILED", token=registry.token("root"))
    assert len(filtered.get_json()["events"]) == 1


def test_redis_unreachable_answers_503(settings, registries):
    registry = registries(settings, ratelimit_storage_url="redis://127.0.0.1:1/0")
    response = registry.client.post("/api/token", data={"refresh_token": "guess"})
    assert response.status_code == 503 and response.get_json()["code"] == "storage_unavailable"
    assert response.get_json()["message"].startswith("The rate-limit store (Redis) is not available right now")


def _failure_seconds(client, name: str) -> float:
    started = time.perf_counter()
    assert sign_in(client, name, "wrong password").status_code == 401
    return time.perf_counter() - started


def test_sign_in_takes_as_long_for_unknown_users(registry):
    """The issue measured 265 ms for an existing user and 9 ms for an unknown one."""
    registry.create_user("alice", password=PASSWORD)
    registry.create_user("nopass")  # no password at all: checked against the dummy hash too
    client = registry.client
    sign_in(client, "warmup", "x")  # the dummy hash is made once per process
    names = ("alice", "nobody", "nopass")
    samples = {name: [] for name in names}
    for _ in range(5):  # interleaved, so a busy moment of the machine slows all three alike
        for name in names:
            samples[name].append(_failure_seconds(client, name))
    medians = {name: statistics.median(times) for name, times in samples.items()}
    assert min(medians.values()) > 0.7 * max(medians.values()), medians
