"""Screenshots of the main pages for a person to look at: screenshots/<page>-<width>-<scheme>.png.

Each run writes them afresh (the folder is git-ignored). On the way, each page
must fit its width: nothing wider than a 375 px phone.
"""

import struct

import pytest

from tests.browser.conftest import BASE_DIR

pytestmark = pytest.mark.browser

SCREENSHOTS = BASE_DIR / "screenshots"
PAGES = {
    "home": "/",
    "list": "/case-studies/",
    "filtered-list": "/case-studies/?tag=security",
    "study": "/case-studies/financeai/",
}


# On a site whose studies have covers, and photographs in the newest (sample_images).
PHOTO_PAGES = {"list-covers": "/case-studies/", "study-photos": "/case-studies/securevault/"}


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [375, 1280])
@pytest.mark.parametrize("name", PAGES)
def test_screenshot(new_page, live_site, name, width, scheme):
    take_screenshot(new_page, live_site, name, PAGES[name], width, scheme)


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [375, 1280])
@pytest.mark.parametrize("name", PHOTO_PAGES)
def test_screenshot_with_images(new_page, photo_site, name, width, scheme):
    page = take_screenshot(new_page, photo_site, name, PHOTO_PAGES[name], width, scheme)
    # Every picture arrived (none broken), in a format of its renditions.
    pictures = page.evaluate(
        "[...document.querySelectorAll('main img')].map(img => [img.naturalWidth > 0, img.currentSrc])"
    )
    assert pictures
    for loaded, source in pictures:
        assert loaded, source
        assert source.endswith((".avif", ".webp")), source


# Lazy pictures load as they come into view: a full-page screenshot is to show them all.
LOAD_EVERY_PICTURE = """async () => {
  for (const img of document.querySelectorAll("img")) {
    img.loading = "eager";
    if (!img.complete) await new Promise(done => { img.onload = img.onerror = done; });
  }
}"""


def take_screenshot(new_page, base_url, name, path, width, scheme):
    page = new_page(base_url, width=width, height=800 if width > 375 else 740, color_scheme=scheme)
    assert page.goto(path).status == 200
    page.evaluate(LOAD_EVERY_PICTURE)
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{name} is {overflow}px wider than a {width}px window"
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}-{width}-{scheme}.png"
    page.screenshot(path=path, full_page=True)
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">I", header[16:20])[0] == width
    return page
