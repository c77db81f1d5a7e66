"""Browser tests: Debian's Chromium driven by Playwright against the real app under uvicorn.

Chromium must come from the system (``scripts/test`` installs Debian's ``chromium`` when it can);
Playwright's own browser download is never used. A missing browser fails the tests, loudly.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from moments.service.settings import Settings
from tests.helpers import fast_settings
from tests.service.conftest_api import (  # noqa: F401  (fixtures)
    LiveApi,
    heavy_video,
    start_api,
)

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """Chromium for the tests of this folder, closed after the last of them: Playwright's sync
    API keeps its event loop running in the test process until it stops, and any later test
    there that runs a loop of its own (asyncio.run, run_until_complete) would fail with
    "Cannot run the event loop while another loop is running". Alone, this folder runs last;
    under pytest-xdist a worker may be handed other files after it."""
    if not CHROMIUM.is_file():
        found = shutil.which("chromium")
        pytest.fail(
            f"Chromium is missing ({CHROMIUM} not found{f'; {found} is' if found else ''}). "
            "Install Debian's browser: apt-get install -y chromium chromium-driver "
            "(scripts/test does this when run as root).",
            pytrace=False,
        )
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def web_settings(tmp_path: Path) -> Settings:
    return fast_settings(tmp_path, job_lease_seconds=5.0)


@pytest.fixture
def site(web_settings: Settings, start_api: Callable[[Settings], LiveApi]) -> LiveApi:  # noqa: F811
    return start_api(web_settings)


@pytest.fixture
def open_page(browser: Browser, site: LiveApi) -> Iterator[Callable[..., Page]]:
    """A fresh browser context on the live site; signed in when the server has a local key."""
    contexts = []

    def open_(path: str = "/", viewport: dict | None = None, signed_in: bool = True) -> Page:
        context = browser.new_context(viewport=viewport or PHONE, base_url=site.base_url)
        contexts.append(context)
        key_file = site.services.settings.data_dir / "local-api-key"
        if signed_in and key_file.is_file():  # accounts (issue 5): the key is in localStorage
            key = key_file.read_text().strip()
            context.add_init_script(f"localStorage.setItem('moments.apiKey', {key!r})")
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(path)
        return page

    errors: list[str] = []
    yield open_
    for context in contexts:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


FRAME_CONTRAST = """v => {
  const c = document.createElement('canvas');
  c.width = 64; c.height = 64;
  const g = c.getContext('2d');
  g.drawImage(v, 0, 0, 64, 64);
  const d = g.getImageData(0, 0, 64, 64).data;
  let s = 0, s2 = 0, n = 0;
  for (let i = 0; i < d.length; i += 4) {
    const y = 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
    s += y; s2 += y * y; n += 1;
  }
  const m = s / n;
  return Math.sqrt(s2 / n - m * m);
}"""


def assert_reel_plays(page: Page, picture: bool = True, after: float = 0.5) -> None:
    """The reel on the page plays: its clock runs past ``after`` seconds, and (unless
    ``picture`` is off) the frame on screen then is a picture, not a flat colour."""
    page.eval_on_selector("#reel", "v => { v.muted = true; return v.play(); }")
    page.wait_for_function(f"document.getElementById('reel').currentTime > {after}", timeout=20_000)
    # A picture, not a flat colour: the spread of brightness in the frame on screen.
    if not picture:  # example.mp4 is a flat green card with a small timecode
        return
    contrast = page.eval_on_selector("#reel", FRAME_CONTRAST)
    assert contrast > 8, f"the reel shows a flat picture (brightness spread {contrast:.1f})"
