"""Reels beyond one upload (issue 20): a finished reel offers "make it 15 s / 60 s / 9:16" (a
re-cut from its kept analysis, no new upload, which the card then follows to its reel); several
clips and a song dropped at once, each its own resumable upload, make one reel; the song is
picked, changed and removed with a button like the page's others, by keyboard too; a reel of
many clips shows which clip each moment came from."""

from __future__ import annotations

import base64
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.helpers import wait_for

from .conftest import assert_reel_plays, screenshot
from .test_controls import LAPTOP, upload

TYPES = {".mp4": "video/mp4", ".m4a": "audio/mp4", ".mp3": "audio/mpeg"}


def drop_files(page: Page, selector: str, paths: list[Path]) -> None:
    """Drop ``paths`` on ``selector`` all at once, as a person dragging them from a folder."""
    files = [
        {"name": p.name, "type": TYPES[p.suffix], "data": base64.b64encode(p.read_bytes()).decode()}
        for p in paths
    ]
    moved = page.evaluate_handle(
        """files => {
            const moved = new DataTransfer();
            for (const f of files) {
                const bytes = Uint8Array.from(atob(f.data), (c) => c.charCodeAt(0));
                moved.items.add(new File([bytes], f.name, { type: f.type }));
            }
            return moved;
        }""",
        files,
    )
    page.dispatch_event(selector, "dragenter", {"dataTransfer": moved})
    page.dispatch_event(selector, "drop", {"dataTransfer": moved})


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


def test_three_clips_and_a_song_dropped_at_once_make_one_reel_that_plays(
    open_page, site, media_dir
):
    page = open_page()
    page.locator("#duration").fill("10")  # the reel's length, as chosen above
    clips = ["man-on-green-screen.mp4", "example.mp4", "SAR-2by3.mp4"]
    # Three clips and the song in one drop: the song becomes the music, not a fourth clip.
    drop_files(page, "#many-zone", [media_dir / name for name in [*clips, "aac.m4a"]])
    rows = page.locator("#clips .clip")
    expect(rows).to_have_count(3)
    expect(page.locator("#clips .clip .bar")).to_have_count(3)  # each its own upload bar
    expect(page.locator("#music .clip strong")).to_have_text(["aac.m4a"])
    expect(page.locator("#make-many")).to_be_enabled(timeout=60_000)
    expect(page.locator("#clips .clip-state")).to_have_text(["Ready"] * 3)
    expect(page.locator("#music .clip-state")).to_have_text(["Ready"])
    bars = page.eval_on_selector_all(
        "#clips .clip .bar, #music .clip .bar", "bs => bs.map(b => b.getAttribute('aria-valuenow'))"
    )
    assert bars == ["100"] * 4, bars
    # Reorder: the last clip up one place.
    page.get_by_role("button", name="Move up SAR-2by3.mp4").click()
    order = page.eval_on_selector_all("#clips .clip", "ls => ls.map(l => l.dataset.sourceId)")
    names = [site.client.get(f"/api/v1/sources/{i}").json()["filename"] for i in order]
    assert names == ["man-on-green-screen.mp4", "SAR-2by3.mp4", "example.mp4"]
    expect(page.locator("#clips .clip-number")).to_have_text(["1", "2", "3"])
    expect(page.locator("#make-many")).to_have_text("Make one reel of 3 clips")
    # The song under the clips' own sound.
    page.get_by_role("radio", name="Music + clips' sound").check()
    # Long names and three buttons a row still fit a phone's width.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, "web-three-clips-and-a-song-dropped-phone.png")

    page.click("#make-many")
    page.wait_for_selector("#job[data-status=completed] #result:not([hidden])", timeout=120_000)
    page.wait_for_function("document.getElementById('reel').readyState >= 1")
    assert page.evaluate("reel.duration") > 1
    job_id = page.locator("#job").get_attribute("data-job-id")
    detail = site.client.get(f"/api/v1/jobs/{job_id}").json()
    # It plays, pictures and all. example.mp4 (the one clip with a capture date, so first in
    # the reel) is a flat green card: the picture is looked at in another clip's first moment.
    lively = next(
        s for s in detail["segments"] if detail["clips"][s["clip"]]["filename"] != "example.mp4"
    )
    assert_reel_plays(page, after=lively["output_start"] + 0.5)
    assert detail["options"]["sources"] == order
    assert detail["options"]["music"] == page.locator("#music .clip").get_attribute(
        "data-source-id"
    )
    assert detail["options"]["music_mode"] == "mix"
    assert detail["options"]["duration"] == 10
    # The result shows which clip each moment came from: on each moment, and each clip's
    # stretch of the timeline named under it.
    shown = {c["filename"] for c in detail["clips"]}
    assert len(shown) >= 2, detail["clips"]  # the two lively clips at least
    expect(page.locator("#timeline-caption")).to_contain_text(f"of video in {len(shown)} clips")
    expect(page.locator("#recut-label")).to_contain_text("these clips")
    on_timeline = page.eval_on_selector_all(
        "#timeline .segment", "bs => bs.map(b => b.dataset.clip)"
    )
    assert set(on_timeline) == shown
    expect(page.locator("#clip-bands .clip-band")).to_have_text(
        [c["filename"] for c in detail["clips"]]
    )
    page.locator("#timeline .segment").first.click()
    expect(page.locator("#segment-detail")).to_contain_text(on_timeline[0])
    screenshot(page, "web-reel-of-three-clips-and-music.png")


def test_the_song_is_picked_changed_and_removed_like_the_rest_of_the_page(
    open_page, site, media_dir
):
    page = open_page(viewport=LAPTOP)
    pick = page.locator("#music-pick")
    expect(pick).to_contain_text("Add a song")
    expect(page.locator("#music-mode-field")).to_be_hidden()  # no song, no choice of how
    # A styled button, not the browser's own "Choose File": the input itself is not seen.
    assert page.locator("#music-file").bounding_box()["width"] <= 1
    box = pick.bounding_box()
    assert box and box["height"] >= 44 and box["width"] >= 200
    # Reached by keyboard: its focus ring is on the button.
    page.focus("#many-files")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "music-file"
    assert pick.evaluate("el => getComputedStyle(el).outlineStyle") == "solid"

    page.set_input_files("#music-file", str(media_dir / "aac.m4a"))
    song = page.locator("#music .clip")
    expect(song.locator("strong")).to_have_text("aac.m4a")
    expect(song.locator(".clip-state")).to_have_text("Ready", timeout=30_000)
    expect(song.locator(".clip-size")).to_contain_text("0:07")  # its length, from the file
    expect(pick).to_contain_text("Change song")
    expect(page.locator("#music-hint")).to_contain_text("shorter than the 30 s asked")
    expect(page.locator("#music-mode-field")).to_be_visible()
    expect(page.get_by_role("radio", name="Music only")).to_be_checked()
    first = song.get_attribute("data-source-id")
    screenshot(page, "web-song-chosen-laptop.png")

    # Changed: the other song takes its place (one song a reel); the first is deleted.
    page.set_input_files("#music-file", str(media_dir / "mono.mp3"))
    expect(page.locator("#music .clip strong")).to_have_text(["mono.mp3"])
    expect(song.locator(".clip-state")).to_have_text("Ready", timeout=30_000)
    wait_for(
        lambda: site.client.get(f"/api/v1/sources/{first}").status_code == 404,
        10,
        "the first song to be deleted",
    )
    # Removed by keyboard: the button is back to "Add a song", and holds the focus.
    page.get_by_role("button", name="Remove mono.mp3").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#music .clip")).to_have_count(0)
    expect(pick).to_contain_text("Add a song")
    expect(page.locator("#music-mode-field")).to_be_hidden()
    assert page.evaluate("document.activeElement.id") == "music-file"


def test_clips_are_ordered_and_removed_by_keyboard(open_page, media_dir):
    page = open_page()
    page.set_input_files(
        "#many-files", [str(media_dir / n) for n in ("testsrc.mp4", "SAR-2by3.mp4", "mono.mp3")]
    )
    expect(page.locator("#clips .clip strong")).to_have_text(["testsrc.mp4", "SAR-2by3.mp4"])
    expect(page.locator("#music .clip strong")).to_have_text(["mono.mp3"])  # chosen with them
    up = page.get_by_role("button", name="Move up testsrc.mp4")
    down = page.get_by_role("button", name="Move down SAR-2by3.mp4")
    expect(up).to_be_disabled()  # the first cannot go up, the last cannot go down
    expect(down).to_be_disabled()
    page.get_by_role("button", name="Move down testsrc.mp4").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#clips .clip strong")).to_have_text(["SAR-2by3.mp4", "testsrc.mp4"])
    # Now last, it cannot go down: the focus stays with it, on its other arrow.
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == (
        "Move up testsrc.mp4"
    )
    page.get_by_role("button", name="Remove SAR-2by3.mp4").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#clips .clip strong")).to_have_text(["testsrc.mp4"])
    expect(page.locator("#clips .clip-number")).to_have_text(["1"])
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == (
        "Remove testsrc.mp4"
    )
    expect(page.locator("#make-many")).to_be_enabled(timeout=30_000)
    expect(page.locator("#make-many")).to_have_text("Make one reel")


def test_a_clip_the_server_refuses_says_so_until_it_is_removed(open_page, media_dir):
    page = open_page()
    noise = bytes(range(256)) * 400  # 100 kB that are no video
    page.set_input_files(
        "#many-files",
        files=[
            {"name": "holiday.mp4", "mimeType": "video/mp4", "buffer": noise},
            {
                "name": "testsrc.mp4",
                "mimeType": "video/mp4",
                "buffer": (media_dir / "testsrc.mp4").read_bytes(),
            },
        ],
    )
    refused = page.locator("#clips .clip.failed")
    expect(refused).to_have_count(1, timeout=30_000)
    expect(refused.locator("strong")).to_have_text("holiday.mp4")
    assert len(refused.locator(".clip-state").inner_text().strip()) > 10  # the server's words
    expect(page.locator("#make-many")).to_be_disabled()
    status = page.locator("#many-status")
    expect(status).to_have_text("Remove holiday.mp4: it could not be uploaded.")
    screenshot(page, "web-clip-refused-phone.png")
    page.get_by_role("button", name="Remove holiday.mp4").click()
    expect(page.locator("#make-many")).to_be_enabled(timeout=30_000)
    expect(status).to_be_hidden()
