"""AccountStore: every read and write of users, API keys, refresh tokens and usage."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..auth.tokens import API_KEY_PREFIX, REFRESH_PREFIX, digest, new_secret
from ..db.account_models import ApiKey, RefreshToken, Usage, User, new_id
from ..db.models import utcnow, view_of
from .plans import QuotaExceeded, month_period, next_reset

SessionFactory = Callable[[], Session]


class EmailTaken(Exception):
    pass


class RefreshRejected(Exception):
    """Unknown, expired, revoked or re-used refresh token (message for the client)."""


@dataclass(frozen=True)
class UserView:
    id: str
    email: str
    plan: str
    token_version: int
    is_local: bool
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> UserView:
        return view_of(cls, user)


@dataclass(frozen=True)
class ApiKeyView:
    id: str
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class AccountStore:
    """Accounts in the job database. Sync SQLAlchemy, like JobStore."""

    def __init__(self, session_factory: SessionFactory):
        self._sessions = session_factory
        self.generation = 0
        """Counts changes that may make a checked credential wrong (see CredentialCache)."""
        self._generation_lock = threading.Lock()

    def _change(self, stmt) -> bool:
        """``_exec`` for a write that may make a checked credential wrong: then ``generation``
        moves, under a lock (two changes in two worker threads must move it twice)."""
        changed = self._exec(stmt)
        with self._generation_lock:
            self.generation += 1
        return changed

    # -- users -------------------------------------------------------------------------

    def create_user(
        self, email: str, password_hash: str | None, plan: str = "free", *, is_local: bool = False
    ) -> UserView:
        user = User(
            id=new_id(),
            email=email.strip().lower(),
            password_hash=password_hash,
            plan=plan,
            token_version=0,
            is_local=is_local,
            created_at=utcnow(),
        )
        try:
            with self._sessions() as session, session.begin():
                session.add(user)
        except IntegrityError:
            raise EmailTaken(email) from None
        return UserView.of(user)

    def get_user(self, user_id: str) -> UserView | None:
        with self._sessions() as session:
            user = session.get(User, user_id)
            return UserView.of(user) if user else None

    def credentials(self, email: str) -> tuple[UserView | None, str | None]:
        """The user with ``email`` and their password hash (for login)."""
        with self._sessions() as session:
            user = session.scalar(select(User).where(User.email == email.strip().lower()))
            return (UserView.of(user), user.password_hash) if user else (None, None)

    def local_user(self) -> UserView | None:
        with self._sessions() as session:
            user = session.scalar(select(User).where(User.is_local.is_(True)))
            return UserView.of(user) if user else None

    def set_plan(self, user_id: str, plan: str) -> None:
        self._change(update(User).where(User.id == user_id).values(plan=plan))

    def set_password_hash(self, user_id: str, password_hash: str) -> None:
        self._change(update(User).where(User.id == user_id).values(password_hash=password_hash))

    def revoke_access_tokens(self, user_id: str) -> None:
        """Every access token issued so far stops working (their version is now stale)."""
        self._change(
            update(User).where(User.id == user_id).values(token_version=User.token_version + 1)
        )

    # -- API keys ------------------------------------------------------------------------

    def create_api_key(
        self, user_id: str, name: str = "", parent_id: str | None = None
    ) -> tuple[ApiKeyView, str]:
        """A new key: its record and the secret itself (shown once, never stored).
        ``parent_id``: the key the request that makes it authenticated with, if any."""
        secret = new_secret(API_KEY_PREFIX)
        key = ApiKey(
            id=new_id(),
            user_id=user_id,
            name=name[:100],
            prefix=secret[:10],
            key_hash=digest(secret),
            created_at=utcnow(),
            parent_id=parent_id,
        )
        with self._sessions() as session, session.begin():
            session.add(key)
        return _key_view(key), secret

    def user_for_api_key(self, secret: str) -> UserView | None:
        found = self.api_key_holder(secret)
        return found[0] if found else None

    def api_key_holder(self, secret: str) -> tuple[UserView, str] | None:
        """The user behind a live API key, and the key's id; None if unknown or revoked."""
        with self._sessions() as session, session.begin():
            row = session.execute(
                select(ApiKey, User)
                .join(User, User.id == ApiKey.user_id)
                .where(ApiKey.key_hash == digest(secret), ApiKey.revoked_at.is_(None))
            ).first()
            if row is None:
                return None
            key, user = row
            now = utcnow()
            # Written at most once a minute: a key used per request must not write per request.
            if key.last_used_at is None or now - key.last_used_at > timedelta(minutes=1):
                key.last_used_at = now
            return UserView.of(user), key.id

    def api_key_live(self, key_id: str, user_id: str) -> bool:
        """Whether key ``key_id`` of ``user_id`` exists and is not revoked."""
        with self._sessions() as session:
            found = session.scalar(
                select(ApiKey.id).where(
                    ApiKey.id == key_id, ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None)
                )
            )
            return found is not None

    def list_api_keys(self, user_id: str) -> list[ApiKeyView]:
        query = select(ApiKey).where(ApiKey.user_id == user_id).order_by(ApiKey.created_at)
        with self._sessions() as session:
            return [_key_view(k) for k in session.scalars(query)]

    def revoke_api_key(self, user_id: str, key_id: str) -> bool:
        """Revoke a live key and every key made with it, and with those, and so on."""
        now = utcnow()
        with self._sessions() as session, session.begin():
            live = ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None)
            found = session.scalar(select(ApiKey.id).where(ApiKey.id == key_id, *live))
            if found is None:
                return False
            doomed, frontier = {key_id}, [key_id]
            while frontier:
                children = session.scalars(
                    select(ApiKey.id).where(ApiKey.parent_id.in_(frontier), *live)
                ).all()
                frontier = [c for c in children if c not in doomed]
                doomed.update(frontier)
            session.execute(update(ApiKey).where(ApiKey.id.in_(doomed)).values(revoked_at=now))
        with self._generation_lock:  # as ``_change``: checked credentials may now be wrong
            self.generation += 1
        return True

    # -- refresh tokens --------------------------------------------------------------------

    def issue_refresh_token(
        self, user_id: str, lifetime: timedelta, family_id: str | None = None
    ) -> str:
        secret = new_secret(REFRESH_PREFIX)
        now = utcnow()
        token = RefreshToken(
            id=new_id(),
            user_id=user_id,
            family_id=family_id or new_id(),
            token_hash=digest(secret),
            created_at=now,
            expires_at=now + lifetime,
        )
        with self._sessions() as session, session.begin():
            session.add(token)
        return secret

    def rotate_refresh_token(self, secret: str, lifetime: timedelta) -> tuple[UserView, str]:
        """Spend a refresh token for a new one of the same family.

        A token can be spent once. Presenting a spent one means it was copied: the whole family
        (every session descending from that login) is revoked, as RFC 9700 advises.
        """
        now = utcnow()
        with self._sessions() as session:
            token = session.scalar(
                select(RefreshToken).where(RefreshToken.token_hash == digest(secret))
            )
            if token is None:
                raise RefreshRejected("The refresh token is not valid.")
            family, user_id = token.family_id, token.user_id
        spent = self._exec(
            update(RefreshToken)
            .where(
                RefreshToken.token_hash == digest(secret),
                RefreshToken.used_at.is_(None),
                RefreshToken.revoked_at.is_(None),
                RefreshToken.expires_at > now,
            )
            .values(used_at=now)
        )
        if not spent:
            if token.used_at is not None or self._was_used(secret):
                self.revoke_family(family)
                raise RefreshRejected(
                    "This refresh token was already used; every session from that login has "
                    "been signed out. Please log in again."
                )
            raise RefreshRejected("The refresh token has expired or was revoked.")
        user = self.get_user(user_id)
        if user is None:
            raise RefreshRejected("The account no longer exists.")
        return user, self.issue_refresh_token(user_id, lifetime, family)

    def _was_used(self, secret: str) -> bool:
        with self._sessions() as session:
            used = session.scalar(
                select(RefreshToken.used_at).where(RefreshToken.token_hash == digest(secret))
            )
            return used is not None

    def revoke_family_of(self, secret: str) -> bool:
        with self._sessions() as session:
            family = session.scalar(
                select(RefreshToken.family_id).where(RefreshToken.token_hash == digest(secret))
            )
        return family is not None and self.revoke_family(family)

    def revoke_refresh_tokens(self, user_id: str) -> bool:
        """Every refresh token of ``user_id`` stops working (all their sessions end)."""
        return self._revoke_refresh(RefreshToken.user_id == user_id)

    def revoke_family(self, family_id: str) -> bool:
        return self._revoke_refresh(RefreshToken.family_id == family_id)

    def _revoke_refresh(self, which) -> bool:
        return self._exec(
            update(RefreshToken)
            .where(which, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=utcnow()),
            exact=False,
        )

    # -- usage (quota) ---------------------------------------------------------------------

    def used(self, user_id: str, period: str) -> int:
        with self._sessions() as session:
            return (
                session.scalar(
                    select(Usage.reels).where(Usage.user_id == user_id, Usage.period == period)
                )
                or 0
            )

    def charge(self, user_id: str, when: datetime, limit: int | None) -> int:
        """Count one reel in ``when``'s month; QuotaExceeded if the month's ``limit`` is used.

        One conditional UPDATE, so two uploads racing for the last reel cannot both get it.
        Returns the reels used afterwards.
        """
        period = month_period(when)
        try:
            with self._sessions() as session, session.begin():
                session.add(Usage(user_id=user_id, period=period, reels=0))
        except IntegrityError:
            pass  # the month's row exists already
        cond = [Usage.user_id == user_id, Usage.period == period]
        if limit is not None:
            cond.append(Usage.reels < limit)
        if not self._exec(update(Usage).where(and_(*cond)).values(reels=Usage.reels + 1)):
            raise QuotaExceeded(
                used=self.used(user_id, period), limit=limit or 0, resets_at=next_reset(when)
            )
        return self.used(user_id, period)

    def refund(self, user_id: str, when: datetime) -> bool:
        """Give back one reel of ``when``'s month (the job made none)."""
        return self._exec(
            update(Usage)
            .where(Usage.user_id == user_id, Usage.period == month_period(when), Usage.reels > 0)
            .values(reels=Usage.reels - 1)
        )

    # -- helpers ---------------------------------------------------------------------------

    def _exec(self, stmt, exact: bool = True) -> bool:
        with self._sessions() as session, session.begin():
            count = session.execute(stmt).rowcount
        return count == 1 if exact else count > 0


def _key_view(key: ApiKey) -> ApiKeyView:
    return view_of(ApiKeyView, key)
