"""CredentialCache: what a polling app's credential costs, and when a cached answer is dropped."""

from __future__ import annotations

from datetime import timedelta

from moments.service.accounts.store import UserView
from moments.service.auth.deps import CredentialCache
from moments.service.db.models import utcnow

from .auth_helpers import account_store


def a_user(user_id: str = "u1") -> UserView:
    return UserView(
        id=user_id,
        email=f"{user_id}@example.com",
        plan="free",
        token_version=0,
        is_local=False,
        created_at=utcnow(),
    )


class Generation:
    def __init__(self) -> None:
        self.value = 0

    def __call__(self) -> int:
        return self.value


def test_a_checked_credential_is_answered_from_memory() -> None:
    cache = CredentialCache(60, Generation())
    user = a_user()
    assert cache.get("mk_secret") is None
    cache.put("mk_secret", user, cache.generation())
    assert cache.get("mk_secret") is user
    assert cache.get("mk_other") is None


def test_a_change_of_accounts_drops_every_entry() -> None:
    generation = Generation()
    cache = CredentialCache(60, generation)
    cache.put("mk_secret", a_user(), cache.generation())
    generation.value += 1  # e.g. a key revoked through this instance
    assert cache.get("mk_secret") is None


def test_a_lookup_that_raced_a_change_is_stale_at_once() -> None:
    generation = Generation()
    cache = CredentialCache(60, generation)
    before = cache.generation()
    generation.value += 1  # revoked while the lookup ran: its answer may be the old one
    cache.put("mk_secret", a_user(), before)
    assert cache.get("mk_secret") is None


def test_no_entry_outlives_its_access_token_or_a_zero_setting() -> None:
    cache = CredentialCache(60, Generation())
    cache.put("eyJ.expired.token", a_user(), cache.generation(), utcnow() - timedelta(seconds=1))
    assert cache.get("eyJ.expired.token") is None
    off = CredentialCache(0, Generation())
    off.put("mk_secret", a_user(), off.generation())
    assert off.get("mk_secret") is None


def test_the_cache_is_bounded_and_keeps_no_secret() -> None:
    cache = CredentialCache(60, Generation())
    for n in range(CredentialCache.MAX_ENTRIES + 5):
        cache.put(f"mk_{n}", a_user(), cache.generation())
    assert len(cache._entries) == CredentialCache.MAX_ENTRIES
    assert cache.get("mk_0") is None  # the oldest went first
    assert cache.get(f"mk_{CredentialCache.MAX_ENTRIES + 4}") is not None
    assert all(isinstance(k, bytes) and b"mk_" not in k for k in cache._entries)


def test_account_changes_move_the_store_generation(migrated) -> None:
    accounts = account_store(migrated)
    user = accounts.create_user("gen@example.com", None)
    key, _ = accounts.create_api_key(user.id)
    seen = [accounts.generation]
    accounts.revoke_api_key(user.id, key.id)
    seen.append(accounts.generation)
    accounts.revoke_access_tokens(user.id)
    seen.append(accounts.generation)
    accounts.set_plan(user.id, "pro")
    seen.append(accounts.generation)
    accounts.set_password_hash(user.id, "x")
    seen.append(accounts.generation)
    assert seen == sorted(set(seen)), seen
