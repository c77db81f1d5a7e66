"""The page's size choice follows the server: a size it does not make (``max_resolution``) is
shown but cannot be picked."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from moments.service.settings import Settings


@pytest.fixture
def web_settings(web_settings: Settings) -> Settings:
    return web_settings.model_copy(update={"max_resolution": "1080p"})


def test_a_size_the_server_does_not_make_cannot_be_picked(open_page) -> None:
    page = open_page()
    four_k = page.locator("#resolution option[value='4k']")
    expect(four_k).to_be_disabled()  # once the server's formats have come
    expect(page.locator("#resolution option[value='1080p']")).to_be_enabled()
    expect(page.locator("#resolution")).to_have_value("1080p")
