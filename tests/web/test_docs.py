"""``/docs`` works without internet: Swagger UI comes from our own server, not a CDN."""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

from playwright.sync_api import Route, expect

from .conftest import screenshot

ASSET_TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png"}


def test_docs_reference_only_assets_of_this_server(site):
    page = site.anonymous().get("/docs")
    assert page.status_code == 200
    urls = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", page.text)
    urls += re.findall(r"""url:\s*["']([^"']+)["']""", page.text)  # the OpenAPI document
    assert len(urls) >= 4, urls
    origin = urlsplit(site.base_url).netloc
    for url in urls:
        absolute = urlsplit(urljoin(site.base_url + "/docs", url))
        assert absolute.netloc == origin, f"/docs loads {url} from elsewhere"
    for url in urls:
        asset = site.anonymous().get(url)
        assert asset.status_code == 200, url
        suffix = next((s for s in ASSET_TYPES if urlsplit(url).path.endswith(s)), None)
        if suffix:
            assert ASSET_TYPES[suffix] in asset.headers["content-type"], url
            assert len(asset.content) > 500, url
    assert site.anonymous().get("/docs/assets/nothing.js").status_code == 404


def test_docs_render_with_no_internet(open_page, site):
    page = open_page(viewport={"width": 1280, "height": 800})
    elsewhere: list[str] = []

    def only_this_server(route: Route) -> None:
        if route.request.url.startswith(site.base_url):
            route.continue_()
        else:  # the internet is not there
            elsewhere.append(route.request.url)
            route.abort("internetdisconnected")

    page.context.route("**/*", only_this_server)
    page.goto("/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Moments", timeout=20_000)
    expect(page.locator(".opblock").first).to_be_visible()
    assert page.locator(".opblock").count() > 10
    assert not elsewhere, elsewhere
    screenshot(page, "web-desktop-docs.png")
