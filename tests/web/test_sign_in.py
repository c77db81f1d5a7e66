"""Signing in on the page: never a dead end, a key checked before it is kept, the key file
named where this server really keeps it, and words for a person, not for an HTTP client."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from moments.service.settings import Settings
from tests.helpers import fast_settings

from .conftest import screenshot


@pytest.fixture
def web_settings(tmp_path: Path) -> Settings:
    # As with MOMENTS_DATA_DIR set: the data is not in ./data.
    return fast_settings(tmp_path, data_dir=tmp_path / "moments-home", job_lease_seconds=5.0)


def test_escape_is_no_dead_end_and_a_wrong_key_is_not_kept(open_page, site):
    key_file = (site.services.settings.data_dir / "local-api-key").resolve()
    key = key_file.read_text().strip()
    page = open_page(signed_in=False)

    # Not signed in: the page asks, and says where this server keeps the key.
    dialog = page.locator("#key-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(str(key_file))
    expect(dialog).not_to_contain_text("data/local-api-key")
    screenshot(page, "web-phone-sign-in.png")

    # Escape: the way back stays, and the page speaks to a person.
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page.locator("#key-button")).to_be_visible()
    expect(page.locator("#key-button")).to_have_text("Sign in")
    expect(page.locator("#jobs-empty")).to_contain_text("not signed in")
    for technical in ("Bearer", "Authorization", "401"):
        expect(page.locator("body")).not_to_contain_text(technical)

    # A wrong key is refused, in the dialog, and not kept.
    page.click("#key-button")
    expect(dialog).to_be_visible()
    page.fill("#key-input", "mk_not-a-real-key")
    page.click("#key-save")
    error = page.locator("#key-error")
    expect(error).to_be_visible()
    expect(error).to_have_attribute("role", "alert")
    expect(error).to_contain_text("not accepted")
    expect(dialog).to_be_visible()
    assert page.evaluate("localStorage.getItem('moments.apiKey')") is None
    screenshot(page, "web-phone-sign-in-wrong-key.png")

    # The right key is checked, kept, and the reels load.
    page.fill("#key-input", key)
    page.click("#key-save")
    expect(dialog).to_be_hidden()
    assert page.evaluate("localStorage.getItem('moments.apiKey')") == key
    expect(page.locator("#jobs-empty")).to_contain_text("Nothing yet")
    expect(page.locator("#key-button")).to_have_text("Change API key")


def test_the_server_names_its_key_file_only_in_local_mode(site):
    anonymous = site.anonymous()
    answer = anonymous.get("/web/sign-in")
    assert answer.status_code == 200
    body = answer.json()
    key_file = (site.services.settings.data_dir / "local-api-key").resolve()
    assert body == {"mode": "local", "key_file": str(key_file)}
    assert key_file.read_text().strip() not in answer.text  # never the key itself
