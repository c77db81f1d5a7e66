"""Starting the account services (local account, limiter, outbox) and the local-mode checks.

``start``/``stop`` are called by ``create_app``'s lifespan; the routes and middleware are
mounted by ``create_app`` itself.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..accounts.store import AccountStore
from ..db.session import make_engine, make_session_factory
from .deps import AccountServices
from .tokens import load_secret

if TYPE_CHECKING:
    from ..api.deps import Services
    from ..settings import Settings

log = logging.getLogger(__name__)
LOCAL_EMAIL = "local@localhost"
LOCAL_KEY_FILE = "local-api-key"


class BindRefused(SystemExit):
    pass


def is_loopback(host: str) -> bool:
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(settings: Settings, host: str) -> None:
    """Refuse to listen beyond this machine with only the one local account."""
    if settings.auth_mode == "local" and not is_loopback(host):
        raise BindRefused(
            f"Refusing to listen on {host}: auth_mode is 'local' (one account, meant for this "
            "machine only). To serve other machines, set MOMENTS_AUTH_MODE=accounts (users "
            "sign up and log in) and MOMENTS_JWT_SECRET, or bind to 127.0.0.1."
        )


def local_key_path(settings: Settings) -> Path:
    return settings.data_dir / LOCAL_KEY_FILE


def ready_message(settings: Settings, host: str, port: int) -> str:
    """What ``moments serve`` tells a person once it listens (on stderr, at every start): the
    page's URL and, in local mode, where the API key is kept."""
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    lines = [
        f"Moments is ready: open http://{shown}:{port}/ in a browser "
        "(the API and its documentation are at /docs)."
    ]
    if settings.auth_mode == "local":
        path = local_key_path(settings).resolve()
        lines.append(
            f"Your API key is in {path}; the page asks for it once. Send it as "
            "'Authorization: Bearer <key>'."
        )
    return "\n".join(lines)


def ensure_local_account(settings: Settings, accounts: AccountStore) -> str | None:
    """auth_mode=local: make sure the local account exists and its API key is on disk.

    Returns the key when one was just made (first start, or the key file was removed), so it
    can be shown once; None when nothing changed.
    """
    if settings.auth_mode != "local":
        return None
    path = local_key_path(settings)
    user = accounts.local_user()
    if user is None:
        from ..accounts.store import EmailTaken

        try:
            user = accounts.create_user(LOCAL_EMAIL, None, "pro", is_local=True)
        except EmailTaken:  # another process created it a moment ago
            user = accounts.local_user()
            assert user is not None
    elif path.is_file() and path.read_text().strip():
        return None
    _, key = accounts.create_api_key(user.id, "local")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    os.replace(tmp, path)
    return key


def start(settings: Settings, services: Services) -> AccountServices:
    """After the database is migrated: account store, local account, limiter, outbox."""
    from ..metrics import Metrics
    from ..notify.apns import APNsSender
    from ..notify.outbox import Outbox
    from ..ratelimit import RateLimiter

    sessions = make_session_factory(make_engine(settings.database_url))
    accounts = AccountStore(sessions)
    configured = settings.jwt_secret
    if configured is not None and hasattr(configured, "get_secret_value"):
        configured = configured.get_secret_value()
    secret = load_secret(configured or None, settings.data_dir)
    key = ensure_local_account(settings, accounts)
    if key is not None:
        path = local_key_path(settings)
        print(
            f"Moments: your API key is {key}\n"
            f"         (kept in {path}; send it as 'Authorization: Bearer <key>')",
            file=sys.stderr,
            flush=True,
        )
    metrics = Metrics(services.store, services.dispatcher)
    outbox = Outbox(
        settings,
        sessions,
        metrics=metrics,
        apns=APNsSender.from_settings(settings),
        callback_key=secret,
    )
    outbox.start()
    return AccountServices(
        settings=settings,
        accounts=accounts,
        secret=secret,
        limiter=RateLimiter.from_settings(settings),
        metrics=metrics,
        outbox=outbox,
    )


def stop(acc: AccountServices) -> None:
    if acc.outbox is not None:
        acc.outbox.stop()
