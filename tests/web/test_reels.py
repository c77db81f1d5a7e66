"""Reels beyond one upload (issue 20): a finished reel offers "make it 15 s / 60 s / 9:16" (a
re-cut from its kept analysis, no new upload, which the card then follows to its reel); several
clips and a song, each its own resumable upload, make one reel; a reel of many clips shows which
clip each moment came from."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.helpers import wait_for

from .conftest import screenshot
from .test_controls import upload


def test_a_finished_reel_can_be_made_9_16_from_the_page(open_page, site, media_dir):
    job_id = upload(site, media_dir / "example.mp4", 5, "Office.mp4")
    wait_for(lambda: site.status(job_id)["status"] == "completed", 120, "the job to finish")
    page = open_page()
    page.click(f"#jobs button[data-job-id='{job_id}']")
    page.wait_for_selector("#job[data-status=completed] #result:not([hidden])", timeout=30_000)
    buttons = page.locator("#recut button")
    expect(buttons).to_have_text(["Make it 15 s", "Make it 60 s", "Make it 9:16"])
    card = page.locator("#job").bounding_box()
    for i in range(3):  # each on one line, side by side inside the card on a phone
        expect(buttons.nth(i)).to_be_visible()
        box = buttons.nth(i).bounding_box()
        assert box and box["height"] <= 56 and box["x"] + box["width"] <= card["x"] + card["width"]

    page.click("#recut button[data-aspect='9:16']")
    new_card = f"#job:not([data-job-id='{job_id}'])[data-status=completed] #result:not([hidden])"
    page.wait_for_selector(new_card, timeout=120_000)
    page.wait_for_function("document.getElementById('reel').readyState >= 1")
    recut_id = page.locator("#job").get_attribute("data-job-id")
    assert recut_id and recut_id != job_id
    size = page.evaluate("[reel.videoWidth, reel.videoHeight]")
    assert size[1] > size[0], size  # the reel on the page is the 9:16 one
    detail = site.client.get(f"/api/v1/jobs/{recut_id}").json()
    assert detail["options"]["aspect"] == "9:16" and detail["options"]["recut_of"] == job_id
    assert "analyse" not in detail["timings"]["stages"]  # made from the kept analysis
    # The reel it now is is not offered again; the other two are.
    expect(page.locator("#recut button[data-aspect='9:16']")).to_be_hidden()
    expect(page.locator("#recut button[data-duration='15']")).to_be_visible()
    expect(page.locator(f"#jobs button[data-job-id='{recut_id}']")).to_have_count(1)
    screenshot(page, "web-recut-9-16.png")


def test_three_clips_chosen_at_once_and_a_song_make_one_reel_that_plays(open_page, site, media_dir):
    page = open_page()
    page.locator("#duration").fill("10")  # the reel's length, as chosen above
    clips = ["man-on-green-screen.mp4", "example.mp4", "SAR-2by3.mp4"]
    page.set_input_files("#many-files", [str(media_dir / name) for name in clips])
    page.set_input_files("#music-file", str(media_dir / "aac.m4a"))
    rows = page.locator("#clips .clip")
    expect(rows).to_have_count(3)
    expect(page.locator("#clips .clip .bar")).to_have_count(3)  # each its own upload bar
    expect(page.locator("#make-many")).to_be_enabled(timeout=60_000)
    expect(page.locator("#clips .clip-state")).to_have_text(["Ready"] * 3)
    expect(page.locator("#music .clip-state")).to_have_text(["Ready"])
    # Reorder: the last clip up one place.
    page.get_by_role("button", name="Move up SAR-2by3.mp4").click()
    order = page.eval_on_selector_all("#clips .clip", "ls => ls.map(l => l.dataset.sourceId)")
    names = [site.client.get(f"/api/v1/sources/{i}").json()["filename"] for i in order]
    assert names == ["man-on-green-screen.mp4", "SAR-2by3.mp4", "example.mp4"]
    expect(page.locator("#make-many")).to_have_text("Make one reel of 3 clips")
    # Long names and three buttons a row still fit a phone's width.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    page.click("#make-many")
    page.wait_for_selector("#job[data-status=completed] #result:not([hidden])", timeout=120_000)
    page.wait_for_function("document.getElementById('reel').readyState >= 1")
    assert page.evaluate("reel.duration") > 1
    job_id = page.locator("#job").get_attribute("data-job-id")
    detail = site.client.get(f"/api/v1/jobs/{job_id}").json()
    assert detail["options"]["sources"] == order
    assert detail["options"]["music"] == page.locator("#music .clip").get_attribute(
        "data-source-id"
    )
    assert detail["options"]["duration"] == 10
    # The result shows which clip each moment came from.
    shown = {c["filename"] for c in detail["clips"]}
    assert len(shown) >= 2, detail["clips"]  # the two lively clips at least
    expect(page.locator("#timeline-caption")).to_contain_text(f"of video in {len(shown)} clips")
    expect(page.locator("#recut-label")).to_contain_text("these clips")
    on_timeline = page.eval_on_selector_all(
        "#timeline .segment", "bs => bs.map(b => b.dataset.clip)"
    )
    assert set(on_timeline) == shown
    page.locator("#timeline .segment").first.click()
    expect(page.locator("#segment-detail")).to_contain_text(on_timeline[0])
    screenshot(page, "web-reel-of-three-clips-and-music.png")
