"""HTTP with one registry: the session headers of the quilt client, gzip push bodies, automatic
token refresh (refresh tokens rotate: the new pair is stored at once, under a lock), retries on
connection errors and 5xx, and errors turned into ones a user can act on."""

from __future__ import annotations

import gzip
import json
import platform
import time
from typing import Any

import requests

from . import __version__
from .errors import (AuthenticationError, ClientError, Conflict, Forbidden, NotFound, RegistryUnavailable,
                     UsageError, network_reason)
from .settings import Settings

RETRY_STATUSES = {429, 502, 503, 504}  # the request did not run: safe to repeat whatever it was
REFRESH_MARGIN = 60  # seconds: renew a token that expires this soon, as the published client does
USER_AGENT = (f"registry-client/{__version__} ({platform.system()} {platform.release()}) "
              f"{platform.python_implementation()}/{platform.python_version()}")


class RegistrySession:
    def __init__(self, url: str, settings: Settings, *, retries: int = 4, backoff: float = 0.5,
                 timeout: tuple[float, float] = (10, 300)):
        self.url = url
        self.settings = settings
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self.http = requests.Session()
        self.http.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})

    @property
    def login_command(self) -> str:
        return f"registry-client login {self.url}"

    # Tokens

    def login(self, code: str) -> None:
        """Exchange a one-time code from the registry's /login page for a token pair."""
        self.settings.save_credentials(self.url, self._exchange(code.strip(), refreshing=False))

    def logout(self) -> bool:
        entry = self.settings.credentials(self.url)
        if entry is None:
            return False
        try:  # ends the session on the server too; being offline must not keep the user signed in
            self.request("POST", "/api/logout")
        except ClientError:
            pass
        self.settings.save_credentials(self.url, None)
        return True

    def access_token(self) -> str | None:
        entry = self.settings.credentials(self.url)
        if entry is None or entry.get("expires_at", 0) >= time.time() + REFRESH_MARGIN:
            return entry and entry.get("access_token")
        with self.settings.credentials_lock():
            entry = self.settings.credentials(self.url)  # another process may have refreshed it
            if entry is None or entry.get("expires_at", 0) >= time.time() + REFRESH_MARGIN:
                return entry and entry.get("access_token")
            pair = self._exchange(entry["refresh_token"], refreshing=True)
            self.settings.save_credentials(self.url, pair)
            return pair["access_token"]

    def _exchange(self, secret: str, *, refreshing: bool) -> dict:
        # Never retried: the server consumes the code or refresh token on the first attempt.
        try:
            response = requests.post(f"{self.url}/api/token", data={"refresh_token": secret},
                                     headers={"User-Agent": USER_AGENT}, timeout=self.timeout)
        except requests.RequestException as exc:
            raise RegistryUnavailable(f"Cannot reach the registry at {self.url} ({network_reason(exc)}).",
                                      "Check the address and your network.") from None
        body = _json(response)
        if response.status_code == 200 and not body.get("error") and body.get("access_token"):
            return {"refresh_token": body["refresh_token"], "access_token": body["access_token"],
                    "expires_at": body["expires_at"]}
        reason = body.get("message") or body.get("error") or f"HTTP {response.status_code}"
        if refreshing:
            raise AuthenticationError(f"Your login to {self.url} has expired or was revoked ({reason}).",
                                      f"Sign in again: {self.login_command}", status=response.status_code)
        raise AuthenticationError(f"The registry did not accept that login code ({reason}).",
                                  f"Codes work once, for 10 minutes: open {self.url}/login, sign in and "
                                  "copy a fresh one.", status=response.status_code)

    # Requests

    def request(self, method: str, path: str, *, json_body: Any = None, compress: bool = False,
                params: dict | None = None) -> dict:
        token = self.access_token()
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        data = None
        if json_body is not None:
            data = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
            if compress:
                data = gzip.compress(data, compresslevel=6)
                headers["Content-Encoding"] = "gzip"
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                response = self.http.request(method, self.url + path, data=data, headers=headers,
                                             params=params, timeout=self.timeout)
            except requests.RequestException as exc:
                if last:
                    raise RegistryUnavailable(f"Cannot reach the registry at {self.url} ({network_reason(exc)}).",
                                              "Check the address and your network, then try again.") from None
            else:
                if response.status_code < 300:
                    return _json(response)
                retry = RETRY_STATUSES | ({500} if method in ("GET", "HEAD") else set())
                if response.status_code not in retry or last:
                    raise self._error(response, signed_in=bool(token))
            time.sleep(self.backoff * 2 ** attempt)
        raise AssertionError("unreachable")

    def _error(self, response: requests.Response, *, signed_in: bool) -> ClientError:
        status = response.status_code
        message = _json(response).get("message") or f"HTTP {status} {response.reason}"
        if status == 401:
            if signed_in:
                return AuthenticationError(f"The registry at {self.url} no longer accepts your login ({message}).",
                                           f"Sign in again: {self.login_command}", status=status)
            return AuthenticationError(f"{message}: this needs you to be signed in to {self.url}.",
                                       f"Sign in: {self.login_command}", status=status)
        if status == 403:
            return Forbidden(message, "This account may not do that. Ask the package owner, or sign in as "
                             f"another user: {self.login_command}", status=status)
        if status == 404:
            hint = ("If it is private, ask its owner to share it with you." if signed_in else
                    f"If it is private, sign in first: {self.login_command}")
            return NotFound(message, f"Check the name. {hint}", status=status)
        if status == 409:
            return Conflict(message, status=status)
        if status >= 500:
            return RegistryUnavailable(f"The registry at {self.url} failed (HTTP {status}): {message}",
                                       "Try again later; if it keeps failing, tell its administrator.",
                                       status=status)
        return UsageError(f"The registry refused the request: {message}", status=status)


def _json(response: requests.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {"items": body}
