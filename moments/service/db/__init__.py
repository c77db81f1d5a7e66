"""The job database: ORM models, sessions and Alembic migrations (packaged here)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from . import account_models  # noqa: F401  (registers the account tables on Base.metadata)
from .models import Base, Job
from .session import make_engine, make_session_factory

if TYPE_CHECKING:
    from ..settings import Settings

ALEMBIC_INI = Path(__file__).with_name("alembic.ini")

__all__ = [
    "ALEMBIC_INI",
    "Base",
    "Job",
    "alembic_config",
    "make_engine",
    "make_session_factory",
    "upgrade",
]


def alembic_config(url: str):
    """An Alembic Config pointing at the packaged migrations and the given database."""
    from alembic.config import Config

    config = Config(str(ALEMBIC_INI))
    config.set_main_option("script_location", str(ALEMBIC_INI.with_name("migrations")))
    # ConfigParser interpolation would choke on "%" in passwords.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    """Bring the database named by ``settings`` up to ``revision`` ("alembic upgrade head")."""
    from alembic import command

    # make_engine creates the SQLite folder and sets WAL before Alembic connects.
    make_engine(settings.database_url).dispose()
    command.upgrade(alembic_config(settings.database_url), revision)
