"""The web page end to end in headless Chromium: upload, live progress, the reel, the timeline,
past jobs, and an upload that survives the network going away."""

from __future__ import annotations

import threading
from typing import Any

from playwright.sync_api import Page, Route, expect

from tests.helpers import wait_for
from tests.service.conftest_api import LiveApi

from .conftest import assert_reel_plays, screenshot
from .test_reels import drop_files

JOB_DONE_MS = 120_000


def api_json(site: LiveApi, path: str) -> dict[str, Any]:
    key_file = site.services.settings.data_dir / "local-api-key"
    headers = {}
    if key_file.is_file():  # accounts (issue 5) in local mode
        headers["Authorization"] = f"Bearer {key_file.read_text().strip()}"
    response = site.client.get(path, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def set_duration(page: Page, seconds: int) -> None:
    page.eval_on_selector(
        "#duration",
        "(el, v) => { el.value = String(v); el.dispatchEvent(new Event('input')); }",
        seconds,
    )


def test_upload_to_reel_on_a_phone(open_page, site, media_dir):
    page = open_page()
    expect(page.locator("h1")).to_contain_text("short reel")
    expect(page.locator("#start")).to_be_disabled()
    page.set_input_files("#file", str(media_dir / "man-on-green-screen.mp4"))
    expect(page.locator("#dz-main")).to_have_text("man-on-green-screen.mp4")
    set_duration(page, 10)
    page.check("input[name=aspect][value='9:16']", force=True)
    page.click("#start")

    # Live progress by stage, then the finished reel.
    page.wait_for_selector("#job:not([hidden])", timeout=30_000)
    # Uploaded: nothing left to cancel there (the job card has its own stop button).
    expect(page.locator("#upload-cancel")).to_be_hidden()
    page.wait_for_selector("#job[data-status=completed] #result:not([hidden])", timeout=JOB_DONE_MS)
    job_id = page.get_attribute("#job", "data-job-id")
    detail = api_json(site, f"/api/v1/jobs/{job_id}")
    assert detail["status"] == "completed"
    assert detail["options"] == {"duration": 10.0, "aspect": "9:16"}
    assert detail["filename"] == "man-on-green-screen.mp4"

    segments = page.locator("#timeline .segment")
    assert segments.count() == len(detail["segments"]) > 0
    first = detail["segments"][0]
    assert first["reason"] in segments.first.get_attribute("title")
    segments.first.click()
    expect(page.locator("#segment-detail")).to_contain_text("Moment 1")
    # The reason as a sentence, not signal names with two decimals.
    expect(page.locator("#segment-detail")).to_contain_text(first["reason"][1:])
    expect(page.locator("#segment-detail")).not_to_contain_text("quality")
    # When the reel is shorter than asked, the page says why, in the engine's words.
    notes = page.locator("#reel-notes")
    if detail["notes"]:
        expect(notes).to_be_visible()
        expect(notes).to_have_text(" ".join(detail["notes"]))
    else:
        expect(notes).to_be_hidden()
    # A note is news, shown in amber: not in the red that errors are shown in.
    edge = notes.evaluate("el => getComputedStyle(el).borderLeftColor")
    assert edge == "rgb(255, 204, 77)", edge
    # Blocks sit where the moments are in the source (a short one widened about its middle).
    bar = page.locator("#timeline").bounding_box()
    block = segments.first.bounding_box()
    assert bar and block
    inner = bar["width"] - 2  # the timeline's 1 px border either side
    middle = (first["source_start"] + first["source_end"]) / 2 / detail["input"]["duration"]
    wanted = min(max(bar["x"] + 1 + inner * middle, bar["x"] + 1 + block["width"] / 2),
                 bar["x"] + 1 + inner - block["width"] / 2)  # fmt: skip
    assert abs(block["x"] + block["width"] / 2 - wanted) < 1.5

    assert page.get_attribute("#reel", "poster")
    assert page.get_attribute("#download", "href").split("?")[0] == detail["links"]["download"]
    # The two actions side by side, each label on one line even on a phone.
    for action in ("#download", "#new-video"):
        box = page.locator(action).bounding_box()
        assert box and box["height"] < 56, (action, box)
    assert_reel_plays(page)
    # The page is built for the phone: nothing wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    expect(page.locator(f"#jobs button[data-job-id='{job_id}']")).to_be_visible()
    screenshot(page, "web-phone-reel.png")

    # "Make another": the old reel goes away; the length and shape chosen stay.
    page.click("#new-video")
    expect(page.locator("#job")).to_be_hidden()
    expect(page.locator("#dz-main")).to_contain_text("Choose a video")
    expect(page.locator("#start")).to_be_disabled()
    expect(page.locator("input[name=aspect][value='9:16']")).to_be_checked()
    expect(page.locator("#duration")).to_have_value("10")
    assert "#job=" not in page.url


def test_a_past_job_reopens_from_the_list(open_page, site, media_dir):
    with (media_dir / "example.mp4").open("rb") as f:
        body = site.client.post(
            "/api/v1/upload?duration=6",
            content=f.read(),
            headers={"Content-Type": "video/mp4", "X-Filename": "Talk at the office.mp4"},
        )
    assert body.status_code == 202, body.text
    job_id = body.json()["id"]
    wait_for(
        lambda: api_json(site, f"/api/v1/jobs/{job_id}/status")["status"] == "completed",
        120,
        "the job to finish",
    )
    page = open_page(viewport={"width": 1280, "height": 900})
    page.click(f"#jobs button[data-job-id='{job_id}']")
    page.wait_for_selector("#job[data-status=completed] #result:not([hidden])", timeout=30_000)
    expect(page.locator("#job-title")).to_have_text("Talk at the office.mp4")
    detail = api_json(site, f"/api/v1/jobs/{job_id}")
    assert page.locator("#timeline .segment").count() == len(detail["segments"])
    assert page.url.endswith(f"#job={job_id}")
    assert_reel_plays(page, picture=False)
    screenshot(page, "web-desktop-reopened.png")


def test_upload_survives_the_network_dropping(open_page, site, media_dir, browser):
    source = media_dir / "example.mp4"
    page = open_page("/?chunkSize=65536")
    held: list[Route] = []
    hold_next = threading.Event()
    hold_next.set()
    patches = {"count": 0}

    def on_upload_request(route: Route) -> None:
        if route.request.method == "PATCH":
            patches["count"] += 1
            if patches["count"] == 12 and hold_next.is_set():
                hold_next.clear()
                held.append(route)  # this chunk hangs: the network is about to go
                return
        route.continue_()

    page.route("**/api/v1/uploads/**", on_upload_request)
    page.set_input_files("#file", str(source))
    set_duration(page, 8)
    page.click("#start")
    wait_for(lambda: held or page.evaluate("0"), 30, "the 12th chunk")
    page.context.set_offline(True)
    held[0].abort("internetdisconnected")
    expect(page.locator("#upload-state")).to_contain_text("offline", timeout=10_000)
    tus_dir = site.services.settings.data_dir / "tus"
    (upload_folder,) = list(tus_dir.iterdir())
    kept = (upload_folder / "data").stat().st_size
    assert 0 < kept < source.stat().st_size
    percent_offline = int(page.inner_text("#upload-percent").rstrip("%"))
    assert 0 < percent_offline < 100
    screenshot(page, "web-phone-offline.png")

    page.context.set_offline(False)
    page.wait_for_selector("#job[data-status=completed] #result:not([hidden])", timeout=JOB_DONE_MS)
    job_id = page.get_attribute("#job", "data-job-id")
    # One upload, resumed (not restarted), and the server has exactly the file.
    assert len(list(tus_dir.iterdir())) == 1
    job = site.services.store.get(job_id)
    stored = site.services.storage.local_path(job.input_key).read_bytes()
    assert stored == source.read_bytes()
    assert patches["count"] < 2 * (source.stat().st_size // 65536 + 1)


def test_a_length_chosen_before_the_server_defaults_arrive_is_kept(browser, site):
    # Under load the page's defaults (GET /upload/formats) came after the person (or a test)
    # had set a length, and put it back to 30 s.
    context = browser.new_context(base_url=site.base_url)
    try:
        page = context.new_page()
        held: list[Route] = []
        page.route("**/api/v1/upload/formats", lambda route: held.append(route))
        page.goto("/")
        wait_for(lambda: page.evaluate("1") == 1 and bool(held), 10, "the page to ask its defaults")
        set_duration(page, 10)
        held[0].fulfill(json={"max_duration": 175, "default_duration": 30})
        page.wait_for_function("document.getElementById('duration').max === '175'")
        assert page.eval_on_selector("#duration", "el => el.value") == "10"
    finally:
        context.close()


def test_a_video_dropped_on_the_page_is_the_one_chosen(open_page, media_dir):
    page = open_page()
    drop_files(page, "#dropzone", [media_dir / "man-on-green-screen.mp4"])
    expect(page.locator("#dz-main")).to_have_text("man-on-green-screen.mp4")
    expect(page.locator("#dropzone")).not_to_have_class("over")  # the highlight goes with it
    expect(page.locator("#start")).to_be_enabled()
