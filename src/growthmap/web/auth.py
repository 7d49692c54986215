"""Users, passwords, API tokens and browser sessions of the dashboard.

* Users live in ``gm.users`` with a role (admin, ops, manager, rep), the territory a
  manager sees below, and the rep id a rep owns accounts under.
* Passwords and tokens are stored only as salted scrypt hashes
  (``scrypt$n$r$p$salt$hash``).  A token reads ``gm.<user>.<secret>`` — the user part
  (base64url) finds the row, the secret is checked against its hash; a verified token
  is remembered in memory against the stored hash, so replacing or removing it takes
  effect on the next request without re-running scrypt on every call.
* A browser session is a cookie ``user|expiry|fingerprint|session`` signed with
  HMAC-SHA256; the fingerprint comes from the password hash, so changing a password or
  removing the user ends every session, and signing out records the session id in
  ``gm.revoked_sessions`` so a copied cookie stops working at once.  The signing key
  is kept in ``gm.meta``.
* Failed logins are throttled per user name *and* client address with a growing
  wait (:class:`LoginThrottle`), never a fixed lock-out that someone else can trigger.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import math
import re
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

import duckdb
import pandas as pd

from growthmap.errors import AccessDenied, ConfigError, NotFoundError
from growthmap.read.access import ROLES, Principal

__all__ = [
    "SESSION_COOKIE",
    "USERNAME_RULE",
    "Authenticator",
    "LoginThrottle",
    "SessionSigner",
    "add_user",
    "get_principal",
    "hash_secret",
    "issue_token",
    "list_users",
    "remove_user",
    "session_key",
    "verify_secret",
]

#: The browser session's cookie (signed, see :class:`SessionSigner`).
SESSION_COOKIE = "gm_session"
USERNAME_RULE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
_N, _R, _P = 2**14, 8, 1
_DUMMY = None  # a hash to verify against when the user does not exist (same timing)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_secret(secret: str) -> str:
    """A salted scrypt hash of a password or token, as one self-describing string."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def verify_secret(secret: str, stored: str | None) -> bool:
    """Whether ``secret`` matches a :func:`hash_secret` string (constant-time compare)."""
    global _DUMMY
    if not stored:  # spend the same time as a real check, so timing reveals no user names
        _DUMMY = _DUMMY or hash_secret(secrets.token_urlsafe(16))
        verify_secret(secret, _DUMMY)
        return False
    try:
        algo, n, r, p, salt, digest = stored.split("$")
        if algo != "scrypt":
            return False
        got = hashlib.scrypt(secret.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(_unb64(digest)))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, _unb64(digest))


# -- user management (the CLI's `growthmap user ...`) --------------------------------------
def _check_name(username: str) -> None:
    if not USERNAME_RULE.match(username or ""):
        raise ConfigError(f"user name {username!r} is not allowed",
                          hint="use 1-64 letters, digits and . _ @ -, starting with a "
                          "letter or digit")


def _exists(con: duckdb.DuckDBPyConnection, table: str, column: str, value: str) -> bool | None:
    """Whether ``value`` is in ``main.table.column`` (None when the table is not loaded)."""
    if not con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = "
                       "'main' AND table_name = ?", [table]).fetchone()[0]:
        return None
    return bool(con.execute(f"SELECT count(*) FROM main.{table} WHERE {column}::VARCHAR = ?",
                            [value]).fetchone()[0])


def add_user(con: duckdb.DuckDBPyConnection, username: str, role: str, *,
             password: str | None = None, territory_id: str | None = None,
             rep_id: str | None = None, replace: bool = False) -> Principal:
    """Create (or with ``replace`` update) a user; returns what the user may see."""
    con = getattr(con, "con", con)
    _check_name(username)
    if role not in ROLES:
        raise ConfigError(f"unknown role {role!r}", hint=f"use one of: {', '.join(ROLES)}")
    if role == "manager" and not territory_id:
        raise ConfigError("a manager needs a territory", hint="pass --territory TERRITORY_ID")
    if role == "rep" and not rep_id:
        raise ConfigError("a rep needs a rep id", hint="pass --rep REP_ID")
    if territory_id and _exists(con, "territories", "territory_id", territory_id) is False:
        raise NotFoundError(f"no territory {territory_id!r} in the territories table",
                            hint="check the id with the territories you loaded")
    if rep_id and _exists(con, "reps", "rep_id", rep_id) is False:
        raise NotFoundError(f"no rep {rep_id!r} in the reps table",
                            hint="check the id with the reps you loaded")
    if password is not None and len(password) < 8:
        raise ConfigError("the password is shorter than 8 characters",
                          hint="choose a longer password")
    exists = con.execute("SELECT count(*) FROM gm.users WHERE username = ?",
                         [username]).fetchone()[0]
    if exists and not replace:
        raise ConfigError(f"user {username!r} already exists",
                          hint="remove it first, or pass --replace to change it")
    pw = hash_secret(password) if password else None
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    if exists:
        con.execute("UPDATE gm.users SET role = ?, territory_id = ?, rep_id = ?, "
                    "password_hash = coalesce(?, password_hash) WHERE username = ?",
                    [role, territory_id, rep_id, pw, username])
    else:
        con.execute("INSERT INTO gm.users VALUES (?, ?, ?, ?, ?, NULL, ?)",
                    [username, role, territory_id, rep_id, pw, now])
    return Principal(username, role, territory_id, rep_id)


def remove_user(con: duckdb.DuckDBPyConnection, username: str) -> None:
    """Delete a user: their sessions and token stop working at once."""
    con = getattr(con, "con", con)
    n = con.execute("DELETE FROM gm.users WHERE username = ? RETURNING username",
                    [username]).fetchall()
    if not n:
        raise NotFoundError(f"no user {username!r}", hint="see `growthmap user list`")


def list_users(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Users without their hashes: name, role, territory, rep, has password/token, created."""
    con = getattr(con, "con", con)
    return con.execute(
        "SELECT username, role, territory_id, rep_id, password_hash IS NOT NULL AS password, "
        "token_hash IS NOT NULL AS token, created_at FROM gm.users ORDER BY username"
    ).fetch_arrow_table().to_pandas()


def issue_token(con: duckdb.DuckDBPyConnection, username: str) -> str:
    """A new API token for ``username`` (replacing any earlier one); shown once, stored hashed."""
    con = getattr(con, "con", con)
    secret = secrets.token_urlsafe(32)
    token = f"gm.{_b64(username.encode())}.{secret}"
    n = con.execute("UPDATE gm.users SET token_hash = ? WHERE username = ? RETURNING username",
                    [hash_secret(token), username]).fetchall()
    if not n:
        raise NotFoundError(f"no user {username!r}", hint="add it with `growthmap user add`")
    return token


def get_principal(con: duckdb.DuckDBPyConnection, username: str) -> tuple[Principal, str | None,
                                                                       str | None] | None:
    """(principal, password hash, token hash) of a user, or None."""
    row = con.execute("SELECT username, role, territory_id, rep_id, password_hash, token_hash "
                      "FROM gm.users WHERE username = ?", [username]).fetchone()
    if not row:
        return None
    return Principal(row[0], row[1], row[2], row[3]), row[4], row[5]


# -- request-time authentication ---------------------------------------------------------------
@dataclass
class SessionSigner:
    """Signs and checks session cookies (``user|expiry|fingerprint|mac``)."""

    key: bytes
    lifetime_s: float = 12 * 3600

    @staticmethod
    def fingerprint(password_hash: str | None) -> str:
        return hashlib.sha256((password_hash or "").encode()).hexdigest()[:16]

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self.key, payload.encode(), hashlib.sha256).digest())

    def sign(self, username: str, password_hash: str | None, now: float | None = None) -> str:
        expiry = int((now or time.time()) + self.lifetime_s)
        payload = (f"{_b64(username.encode())}|{expiry}|{self.fingerprint(password_hash)}|"
                   f"{secrets.token_urlsafe(16)}")
        return f"{payload}|{self._mac(payload)}"

    def read(self, cookie: str | None, now: float | None = None
             ) -> tuple[str, str, str, int] | None:
        """(username, fingerprint, session id, expiry) of a valid, unexpired cookie."""
        if not cookie or cookie.count("|") != 4 or len(cookie) > 1000:
            return None
        payload, mac = cookie.rsplit("|", 1)
        if not hmac.compare_digest(mac, self._mac(payload)):
            return None
        user64, expiry, fp, sid = payload.split("|")
        try:
            if int(expiry) < (now or time.time()):
                return None
            return _unb64(user64).decode(), fp, sid, int(expiry)
        except (ValueError, UnicodeDecodeError):
            return None

    def csrf(self, cookie: str) -> str:
        """The form token bound to one session (checked on every browser POST)."""
        return self._mac("csrf|" + cookie)


class LoginThrottle:
    """Failed logins slow down the one who fails, not the user they try to be.

    Failures are counted per (user name, client address), per client address and per
    user name over a sliding ``window_s``.  Past ``limit`` failures a key must wait
    ``2 ** (failures - limit)`` seconds after its last failure (capped at ``max_wait_s``)
    before the next try is even checked.  The per-user count alone could be driven up
    by anyone, so it never holds back an address that has signed in as that user
    before, and its wait is capped at one minute: nobody can lock a user out.
    """

    def __init__(self, limit: int = 10, window_s: float = 900.0, max_wait_s: float = 900.0,
                 size: int = 100_000) -> None:
        self.limit, self.window_s, self.max_wait_s, self.size = limit, window_s, max_wait_s, size
        self._fails: OrderedDict[tuple[str, str, str], tuple[int, float]] = OrderedDict()
        self._good: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._lock = threading.Lock()

    def _keys(self, user: str, addr: str) -> list[tuple[tuple[str, str, str], int, float]]:
        """(key, failures allowed, longest wait) of each counter."""
        keys = [(("pair", user, addr), self.limit, self.max_wait_s),
                (("addr", "", addr), self.limit * 5, self.max_wait_s)]
        if (user, addr) not in self._good:
            keys.append((("user", user, ""), self.limit * 10, 60.0))
        return keys

    def wait(self, user: str, addr: str, now: float | None = None) -> float:
        """Seconds before ``addr`` may try ``user`` again (0 = now)."""
        now = time.time() if now is None else now
        longest = 0.0
        with self._lock:
            for key, allowed, cap in self._keys(user, addr):
                n, last = self._fails.get(key, (0, 0.0))
                if n < allowed or now - last > self.window_s:
                    continue
                longest = max(longest, last + min(2.0 ** (n - allowed), cap) - now)
        return max(longest, 0.0)

    def failed(self, user: str, addr: str, now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self._lock:
            for key, _, _ in self._keys(user, addr):
                n, last = self._fails.get(key, (0, 0.0))
                self._fails[key] = ((0 if now - last > self.window_s else n) + 1, now)
                self._fails.move_to_end(key)
            while len(self._fails) > self.size:
                self._fails.popitem(last=False)

    def succeeded(self, user: str, addr: str) -> None:
        with self._lock:
            self._fails.pop(("pair", user, addr), None)
            self._good[(user, addr)] = None
            while len(self._good) > self.size:
                self._good.popitem(last=False)


class Authenticator:
    """Checks passwords, tokens and cookies; throttles failed logins; ends sessions."""

    def __init__(self, signer: SessionSigner, max_failures: int = 10,
                 window_s: float = 900.0, *, persist: bool = True) -> None:
        self.signer = signer
        self.throttle = LoginThrottle(max_failures, window_s)
        self.persist = persist
        self._revoked: dict[str, int] = {}
        self._verified: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()
        self._revocations_table = False

    def login(self, con: duckdb.DuckDBPyConnection, username: str, password: str,
              client: str = "") -> str:
        """Check a password and return a signed session cookie value."""
        if (wait := self.throttle.wait(username, client)) > 0:
            raise AccessDenied("too many failed logins from here",
                               hint=f"try again in {math.ceil(wait)} s")
        found = get_principal(con, username) if USERNAME_RULE.match(username or "") else None
        stored = found[1] if found else None
        if not verify_secret(password or "", stored):
            self.throttle.failed(username, client)
            raise AccessDenied("unknown user or wrong password",
                               hint="check both, or ask an admin (`growthmap user add`)")
        self.throttle.succeeded(username, client)
        return self.signer.sign(username, stored)

    def logout(self, con: duckdb.DuckDBPyConnection, cookie: str | None) -> None:
        """End a session on the server: its cookie is refused from now on, copies too."""
        read = self.signer.read(cookie)
        if read is None:
            return
        sid, expiry = read[2], read[3]
        with self._lock:
            self._revoked[sid] = expiry
            now = time.time()
            for k in [k for k, e in self._revoked.items() if e < now]:
                del self._revoked[k]
        if self.persist and self._has_revocations(con):
            con.execute("DELETE FROM gm.revoked_sessions WHERE expires_at < now()::TIMESTAMP")
            con.execute("INSERT OR REPLACE INTO gm.revoked_sessions VALUES (?, "
                        "make_timestamp(?::BIGINT * 1000000))", [sid, expiry])

    def _has_revocations(self, con: duckdb.DuckDBPyConnection) -> bool:
        """Whether the workspace keeps revoked sessions; once it does it always will,
        so the catalog is asked until then only (not on every request)."""
        if not self._revocations_table:
            self._revocations_table = _has_revocations(con)
        return self._revocations_table

    def revoked(self, con: duckdb.DuckDBPyConnection, sid: str) -> bool:
        with self._lock:
            if sid in self._revoked:
                return True
        return self._has_revocations(con) and bool(con.execute(
            "SELECT count(*) FROM gm.revoked_sessions WHERE session_id = ?", [sid]).fetchone()[0])

    def from_cookie(self, con: duckdb.DuckDBPyConnection, cookie: str | None) -> Principal | None:
        read = self.signer.read(cookie)
        if read is None or self.revoked(con, read[2]):
            return None
        found = get_principal(con, read[0])
        if found is None or not hmac.compare_digest(SessionSigner.fingerprint(found[1]), read[1]):
            return None
        return found[0]

    def from_token(self, con: duckdb.DuckDBPyConnection, token: str) -> Principal:
        parts = (token or "").split(".")
        bad = AccessDenied("invalid API token",
                           hint="create one with `growthmap user token NAME` and send it as "
                           "'Authorization: Bearer TOKEN'")
        if len(parts) != 3 or parts[0] != "gm":
            raise bad
        try:
            username = _unb64(parts[1]).decode()
        except (ValueError, UnicodeDecodeError):
            raise bad from None
        found = get_principal(con, username)
        stored = found[2] if found else None
        key = hashlib.sha256(token.encode()).hexdigest()
        with self._lock:
            known = self._verified.get(key)
        if found is not None and stored and known is not None and hmac.compare_digest(known,
                                                                                      stored):
            return found[0]
        if found is None or not verify_secret(token, stored):
            raise bad
        with self._lock:
            self._verified[key] = stored
            while len(self._verified) > 4096:
                self._verified.popitem(last=False)
        return found[0]


def _has_revocations(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(con.execute("SELECT count(*) FROM information_schema.tables WHERE "
                            "table_schema = 'gm' AND table_name = 'revoked_sessions'"
                            ).fetchone()[0])


def session_key(con: duckdb.DuckDBPyConnection, *, writable: bool) -> bytes:
    """The cookie-signing key kept in ``gm.meta`` (created on first use).

    A read-only workspace without a key gets a per-process key: logins then last
    until the server restarts.
    """
    if writable:  # where signing out is remembered (workspaces made before had none)
        con.execute("CREATE TABLE IF NOT EXISTS gm.revoked_sessions ("
                    "session_id VARCHAR PRIMARY KEY, expires_at TIMESTAMP)")
    row = con.execute("SELECT value FROM gm.meta WHERE key = 'web_session_key'").fetchone()
    if row:
        return _unb64(row[0])
    key = secrets.token_bytes(32)
    if writable:
        con.execute("INSERT INTO gm.meta VALUES ('web_session_key', ?)", [_b64(key)])
    return key
