"""People who sign in to the review workspace: personal accounts with a role, Argon2id password hashes, sessions
that expire, and sign-in attempts slowed and then refused.

- **Roles.** ``recruiter`` reviews and decides on the requisitions assigned to them; ``auditor`` reads the event
  log and the oversight figures of every requisition and decides nothing; ``admin`` does both and assigns.
- **Passwords** are hashed with Argon2id (``argon2-cffi``'s defaults); a hash made with older parameters is
  rehashed at the next sign-in. At least ``MIN_PASSWORD`` characters.
- **Sessions.** A random token in an HttpOnly, SameSite=Strict cookie; the database holds only its SHA-256, the
  account and the session's CSRF token (every form posts it back). A session ends at sign-out or after
  ``SESSION_HOURS``; a disabled account's sessions end at once.
- **Failed sign-ins** lock the account for ``LOCK_MINUTES`` after ``MAX_FAILURES`` in a row (the app also answers
  each failure more slowly). An unknown name costs the same hash as a known one, so timing tells nothing.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update

from sales_ability.errors import SalesAbilityError
from sales_ability.results import store as db

ROLES: tuple[str, ...] = ("recruiter", "auditor", "admin")
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD = 12
MAX_FAILURES = 5
LOCK_MINUTES = 15
SESSION_HOURS = 8


class AccountError(SalesAbilityError):
    """An account that cannot be made or changed as asked (bad name, role or password; unknown account)."""


class SignInRefused(SalesAbilityError):
    """A sign-in that did not succeed; ``locked`` when the account is locked for a while."""

    def __init__(self, message: str, locked: bool = False) -> None:
        super().__init__(message)
        self.locked = locked


@dataclass(frozen=True)
class Session:
    """A signed-in person: who, with which role, and the CSRF token their forms must carry."""

    username: str
    role: str
    csrf_token: str
    expires_at: datetime

    def can_decide(self) -> bool:
        return self.role in ("recruiter", "admin")

    def can_audit(self) -> bool:
        return self.role in ("auditor", "admin")


def _hasher():
    from argon2 import PasswordHasher

    return PasswordHasher()


def _now() -> datetime:
    return datetime.now(UTC)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_account(url: str, username: str, role: str, password: str) -> None:
    """A new account (``AccountError`` for a taken or malformed name, an unknown role or a short password)."""
    if not USERNAME.fullmatch(username or ""):
        raise AccountError(f"{username!r} is not a username (2-64 characters: lower-case letters, digits, . _ -)")
    if role not in ROLES:
        raise AccountError(f"role {role!r} is not one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password has {len(password)} characters; at least {MIN_PASSWORD} are needed")
    with db.engine(url).begin() as conn:
        if conn.execute(select(db.accounts.c.username).where(db.accounts.c.username == username)).first():
            raise AccountError(f"account {username!r} exists already")
        conn.execute(db.accounts.insert().values(username=username, role=role, password_hash=_hasher().hash(password),
                                                 disabled=False, failed_sign_ins=0, created_at=_now()))


def set_disabled(url: str, username: str, disabled: bool = True) -> None:
    """Disable (or enable again) an account; disabling ends its sessions at once."""
    with db.engine(url).begin() as conn:
        changed = conn.execute(update(db.accounts).where(db.accounts.c.username == username)
                               .values(disabled=disabled, failed_sign_ins=0, locked_until=None)).rowcount
        if not changed:
            raise AccountError(f"no account {username!r}")
        if disabled:
            conn.execute(delete(db.review_sessions).where(db.review_sessions.c.username == username))


_DUMMY_HASH: list[str] = []


def sign_in(url: str, username: str, password: str) -> tuple[str, Session]:
    """A new session for a correct password: ``(cookie token, session)``. Raises ``SignInRefused`` otherwise."""
    from argon2.exceptions import InvalidHashError, VerificationError

    hasher, now = _hasher(), _now()
    with db.engine(url).begin() as conn:
        row = conn.execute(select(db.accounts).where(db.accounts.c.username == username)).first()
        if row is None or row.disabled:
            if not _DUMMY_HASH:
                _DUMMY_HASH.append(hasher.hash(secrets.token_hex(16)))
            try:  # the same work as a real check: the answer's timing does not tell which names exist
                hasher.verify(_DUMMY_HASH[0], password)
            except VerificationError:
                pass
            raise SignInRefused("wrong username or password")
        if row.locked_until is not None and row.locked_until > now:
            raise SignInRefused(f"too many failed sign-ins: this account is locked until "
                                f"{row.locked_until:%H:%M} UTC", locked=True)
        try:
            hasher.verify(row.password_hash, password)
        except (VerificationError, InvalidHashError):
            refused = row.failed_sign_ins + 1
        else:
            refused = 0
        if refused:  # counted and committed here; raised after the transaction
            locked = now + timedelta(minutes=LOCK_MINUTES) if refused >= MAX_FAILURES else None
            conn.execute(update(db.accounts).where(db.accounts.c.username == username)
                         .values(failed_sign_ins=0 if locked else refused, locked_until=locked))
    if refused:
        raise SignInRefused("wrong username or password" + (f": {MAX_FAILURES} failures in a row lock the account for "
                                                            f"{LOCK_MINUTES} minutes" if locked else ""), locked=locked is not None)
    with db.engine(url).begin() as conn:
        values = {"failed_sign_ins": 0, "locked_until": None}
        if hasher.check_needs_rehash(row.password_hash):
            values["password_hash"] = hasher.hash(password)
        conn.execute(update(db.accounts).where(db.accounts.c.username == username).values(**values))
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        expires = now + timedelta(hours=SESSION_HOURS)
        conn.execute(delete(db.review_sessions).where(db.review_sessions.c.expires_at < now))
        conn.execute(db.review_sessions.insert().values(token_sha256=_token_hash(token), username=username,
                                                        csrf_token=csrf, created_at=now, expires_at=expires))
    return token, Session(username, row.role, csrf, expires)


def session_for(url: str, token: str | None) -> Session | None:
    """The live session of a cookie token (None: no token, unknown, expired, or the account disabled)."""
    if not token:
        return None
    with db.engine(url).connect() as conn:
        row = conn.execute(
            select(db.review_sessions.c.username, db.review_sessions.c.csrf_token, db.review_sessions.c.expires_at,
                   db.accounts.c.role, db.accounts.c.disabled)
            .join(db.accounts, db.accounts.c.username == db.review_sessions.c.username)
            .where(db.review_sessions.c.token_sha256 == _token_hash(token))).first()
    if row is None or row.disabled or row.expires_at <= _now():
        return None
    return Session(row.username, row.role, row.csrf_token, row.expires_at)


def sign_out(url: str, token: str | None) -> None:
    """End the session of a cookie token (nothing for an unknown one)."""
    if token:
        with db.engine(url).begin() as conn:
            conn.execute(delete(db.review_sessions).where(db.review_sessions.c.token_sha256 == _token_hash(token)))
