"""Controls that say what is true: a refused upload looks like an error, a running job can be
stopped and a finished one deleted from the page, the list keeps up with the card, and the
page works by keyboard and by finger (issue 19)."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect

from tests.helpers import wait_for
from tests.service.conftest_api import LiveApi

from .conftest import ARTIFACTS, screenshot

LAPTOP = {"width": 1280, "height": 800}


def upload(site: LiveApi, source: Path, seconds: int, name: str) -> str:
    response = site.client.post(
        f"/api/v1/upload?duration={seconds}",
        content=source.read_bytes(),
        headers={"Content-Type": "video/mp4", "X-Filename": name},
    )
    assert response.status_code == 202, response.text
    return response.json()["id"]


def test_a_refused_file_looks_like_an_error(open_page):
    page = open_page()
    noise = bytes(range(256)) * 800  # 200 kB that are no video
    page.set_input_files(
        "#file", files=[{"name": "holiday.mp4", "mimeType": "video/mp4", "buffer": noise}]
    )
    page.click("#start")
    error = page.locator("#upload-error")
    expect(error).to_be_visible(timeout=30_000)
    expect(error).to_have_attribute("role", "alert")
    assert len(error.inner_text().strip()) > 10
    # On a phone the panel opens below the fold: the whole message is brought into view.
    expect(error).to_be_in_viewport(ratio=1.0)
    look = error.evaluate(
        """el => ({border: getComputedStyle(el).borderTopColor,
                   icon: getComputedStyle(el, '::before').backgroundImage})"""
    )
    assert look["border"].startswith("rgba(255, 107, 107"), look
    assert "svg" in look["icon"], look
    # The bar does not claim a finished upload.
    expect(page.locator("#upload-percent")).to_have_text("Refused")
    expect(page.locator("#upload-bar")).to_have_attribute("aria-valuetext", "Refused")
    assert page.locator("#upload-fill").bounding_box()["width"] == 0
    expect(page.locator("#upload-cancel")).to_be_hidden()
    expect(page.locator("#job")).to_be_hidden()
    screenshot(page, "web-phone-refused.png")


def test_the_drop_area_shows_keyboard_focus(open_page):
    page = open_page(viewport=LAPTOP)
    for _ in range(6):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "file":
            break
    assert page.evaluate("document.activeElement.id") == "file"
    outline = page.eval_on_selector(
        "#dropzone", "el => [getComputedStyle(el).outlineStyle, getComputedStyle(el).outlineWidth]"
    )
    assert outline[0] != "none" and float(outline[1].rstrip("px")) >= 2, outline
    page.screenshot(path=str(ARTIFACTS / "web-desktop-drop-focus.png"))


def test_a_running_job_is_followed_in_the_list_and_can_be_stopped(open_page, site, heavy_video):
    job_id = upload(site, heavy_video, 20, "Noise.mp4")
    page = open_page(f"/#job={job_id}", viewport=LAPTOP)
    # The list says what the card says while the job runs (stage and progress), not 0%.
    page.wait_for_function(
        """id => {
          const card = document.getElementById('job-badge').textContent;
          const listed = document.querySelector(`#jobs button[data-job-id="${id}"] .badge`);
          return /[1-9][0-9]*%/.test(card) && listed && listed.textContent === card;
        }""",
        arg=job_id,
        timeout=60_000,
    )
    screenshot(page, "web-desktop-running.png")
    stop = page.locator("#job-cancel")
    expect(stop).to_be_visible()
    expect(page.locator("#job-delete")).to_be_hidden()
    stop.click()
    expect(page.locator("#job")).to_have_attribute("data-status", "cancelled")
    expect(page.locator("#job-error")).to_contain_text("stopped")
    assert site.status(job_id)["status"] == "cancelled"
    listed = page.locator(f"#jobs button[data-job-id='{job_id}']")
    expect(listed.locator(".badge")).to_have_text("cancelled")
    expect(stop).to_be_hidden()

    # A stopped job can go from the list too.
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#job-delete")
    expect(page.locator("#job")).to_be_hidden()
    expect(listed).to_have_count(0)
    assert site.client.get(f"/api/v1/jobs/{job_id}").status_code == 404


def test_a_finished_reel_fits_a_laptop_and_can_be_deleted(open_page, site, media_dir):
    job_id = upload(site, media_dir / "example.mp4", 6, "Office.mp4")
    wait_for(lambda: site.status(job_id)["status"] == "completed", 120, "the job to finish")
    page = open_page(viewport=LAPTOP)
    page.click(f"#jobs button[data-job-id='{job_id}']")
    page.wait_for_selector("#job[data-status=completed] #result:not([hidden])", timeout=30_000)
    page.wait_for_function("document.getElementById('reel').readyState >= 1")
    # The reel and its download button in view on a laptop screen, with no scrolling by hand.
    expect(page.locator("#reel")).to_be_in_viewport(ratio=1)
    expect(page.locator("#download")).to_be_in_viewport(ratio=1)
    # Timeline blocks big enough for a finger.
    segments = page.locator("#timeline .segment")
    assert segments.count() > 0
    for i in range(segments.count()):
        box = segments.nth(i).bounding_box()
        assert box and box["width"] >= 44 and box["height"] >= 44, box
    page.screenshot(path=str(ARTIFACTS / "web-desktop-reel-viewport.png"))

    expect(page.locator("#job-delete")).to_have_text("Delete reel")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#job-delete")
    expect(page.locator("#job")).to_be_hidden()
    expect(page.locator(f"#jobs button[data-job-id='{job_id}']")).to_have_count(0)
    assert site.client.get(f"/api/v1/jobs/{job_id}").status_code == 404
    assert "#job=" not in page.url
