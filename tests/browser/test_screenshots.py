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


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [375, 1280])
@pytest.mark.parametrize("name", PAGES)
def test_screenshot(new_page, live_site, name, width, scheme):
    page = new_page(live_site, width=width, height=800 if width > 375 else 740, color_scheme=scheme)
    assert page.goto(PAGES[name]).status == 200
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{name} is {overflow}px wider than a {width}px window"
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}-{width}-{scheme}.png"
    page.screenshot(path=path, full_page=True)
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">I", header[16:20])[0] == width
