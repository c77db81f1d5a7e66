"""Shared fixtures: the real media folder beside the project."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "media"


@pytest.fixture(scope="session")
def media_dir() -> Path:
    assert MEDIA.is_dir(), f"real media expected at {MEDIA}"
    return MEDIA
