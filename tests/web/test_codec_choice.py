"""The page's video format, HDR and size choices: an HEVC phone clip made into an H.264 reel
when asked (for a browser or player without HEVC), the choices sent with the upload as
``codec``, ``hdr`` and ``resolution``."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect

from tests.engine.media_factory import make_video

from .test_page import JOB_DONE_MS, api_json, assert_reel_plays, set_duration


def test_h264_chosen_for_an_hevc_clip(open_page, site, tmp_path: Path) -> None:
    clip = make_video(tmp_path / "IMG_0004.MOV", seconds=4.0, codec="libx265")
    page = open_page()
    expect(page.locator("#codec")).to_have_value("auto")
    options = page.locator("#codec option")
    assert options.evaluate_all("os => os.map(o => o.value)") == ["auto", "h264", "hevc"]
    page.set_input_files("#file", str(clip))
    set_duration(page, 5)
    page.select_option("#codec", "h264")
    expect(page.locator("#hdr")).to_have_value("keep")
    page.select_option("#hdr", "sdr")
    expect(page.locator("#resolution")).to_have_value("1080p")
    sizes = page.locator("#resolution option").evaluate_all("os => os.map(o => o.value)")
    assert sizes == ["720p", "1080p", "4k"]
    page.select_option("#resolution", "720p")
    page.click("#start")
    page.wait_for_selector("#job[data-status=completed] #result:not([hidden])", timeout=JOB_DONE_MS)
    job_id = page.get_attribute("#job", "data-job-id")
    detail = api_json(site, f"/api/v1/jobs/{job_id}")
    assert detail["options"]["codec"] == "h264" and detail["options"]["hdr"] == "sdr"
    assert detail["options"]["resolution"] == "720p"
    assert detail["reel"]["codec"] == "h264"
    assert_reel_plays(page)  # Chromium without HEVC plays it
    # "Make another" keeps the choice, as it keeps the length and shape.
    page.click("#new-video")
    expect(page.locator("#codec")).to_have_value("h264")
    expect(page.locator("#hdr")).to_have_value("sdr")
    expect(page.locator("#resolution")).to_have_value("720p")
