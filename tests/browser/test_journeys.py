"""What a visitor, a keyboard user and the author do, end to end, in Chromium."""

import re

import pytest
from PIL import Image

from tests.browser.conftest import log_in

pytestmark = pytest.mark.browser

# The seed studies, newest first, as the list shows them.
SEED = {
    "securevault": "SecureVault: A Zero-Knowledge Password Manager Design Exercise",
    "shopflow": "ShopFlow: A Headless E-Commerce Reference Architecture",
    "mediconnect": "MediConnect: A HIPAA-Conscious Healthcare Platform Reference Architecture",
    "financeai": "FinanceAI: A Low-Latency Trading Platform Design Exercise",
    "cloudsync": "CloudSync: A Real-Time Collaboration Reference Architecture",
    "pulseforge": "PulseForge Platform",
    "northstar": "Northstar Platform",
}


def card_titles(page):
    return page.locator(".card-title").all_inner_texts()


def assert_on(page, path):
    """The page's address ends with `path` (path and query string) and it has loaded."""
    page.wait_for_url(re.compile(r"^https?://[^/]+" + re.escape(path) + "$"))
    page.wait_for_load_state()


def test_visitor_browses_filters_reads_and_moves_between_studies(live_site, new_page):
    page = new_page(live_site)
    page.goto("/")
    assert page.locator("h1").count() == 1
    assert card_titles(page) == list(SEED.values())[:3]

    page.get_by_role("link", name="Browse all case studies").click()
    assert_on(page, "/case-studies/")
    assert card_titles(page) == list(SEED.values())

    # A tag pill on a card filters the list to exactly the studies carrying that tag.
    page.locator(".card", has_text=SEED["securevault"]).get_by_role(
        "link", name="Security", exact=True
    ).click()
    assert_on(page, "/case-studies/?tag=security")
    assert card_titles(page) == [SEED["securevault"], SEED["mediconnect"]]
    assert page.locator(".filter-heading").inner_text() == "2 studies tagged"
    for card in page.locator(".card").all():
        assert "Security" in card.locator(".tag").all_inner_texts()

    # The active filter removes itself with one click.
    page.get_by_role("link", name="Remove the filter Security").click()
    assert_on(page, "/case-studies/")
    assert card_titles(page) == list(SEED.values())

    page.get_by_role("link", name=SEED["mediconnect"]).click()
    assert_on(page, "/case-studies/mediconnect/")
    assert page.locator("h1").inner_text() == SEED["mediconnect"]

    # A tag on the study leads to every study with it.
    page.locator(".study-header").get_by_role("link", name="HIPAA", exact=True).click()
    assert_on(page, "/case-studies/?tag=hipaa")
    assert card_titles(page) == [SEED["mediconnect"]]

    page.get_by_role("link", name=SEED["mediconnect"]).click()
    assert_on(page, "/case-studies/mediconnect/")
    pager = page.get_by_role("navigation", name="Newer and older case studies")
    pager.get_by_role("link", name=re.compile(r"^Older")).click()
    assert_on(page, "/case-studies/financeai/")
    assert page.locator("h1").inner_text() == SEED["financeai"]
    pager.get_by_role("link", name=re.compile(r"^Newer")).click()
    assert_on(page, "/case-studies/mediconnect/")
    pager.get_by_role("link", name=re.compile(r"^Newer")).click()
    assert_on(page, "/case-studies/shopflow/")

    # The newest study has nothing newer, the oldest nothing older.
    page.goto("/case-studies/securevault/")
    assert pager.get_by_role("link", name=re.compile(r"^Newer")).count() == 0
    page.goto("/case-studies/northstar/")
    assert pager.get_by_role("link", name=re.compile(r"^Older")).count() == 0
    assert page.problems == []


# What has focus, and whether a sighted keyboard user can see it.
FOCUS_STATE = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const style = getComputedStyle(el);
  const box = el.getBoundingClientRect();
  let opacity = 1;
  for (let node = el; node instanceof Element; node = node.parentElement) {
    opacity *= parseFloat(getComputedStyle(node).opacity);
  }
  return {
    description: el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + " " +
      JSON.stringify((el.getAttribute("aria-label") || el.innerText || "").trim().slice(0, 60)),
    text: (el.innerText || "").trim(),
    label: el.getAttribute("aria-label") || "",
    href: el.getAttribute("href") || "",
    id: el.id,
    inMain: !!el.closest("main"),
    focusVisible: el.matches(":focus-visible"),
    outline: style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2,
    shown: opacity > 0 && style.visibility === "visible" && box.width > 0 && box.height > 0,
    inViewport: box.bottom > 0 && box.right > 0 && box.top < innerHeight && box.left < innerWidth,
  };
}"""


def focus_state(page):
    return page.evaluate(FOCUS_STATE)


def assert_focus_is_visible(state):
    assert state is not None, "Tab moved focus to nothing (the page body)"
    problems = [
        problem
        for problem, failed in [
            ("it does not match :focus-visible", not state["focusVisible"]),
            ("it has no focus outline of 2px or more", not state["outline"]),
            ("it is invisible (opacity 0, hidden or empty)", not state["shown"]),
            ("it is outside the viewport", not state["inViewport"]),
        ]
        if failed
    ]
    assert not problems, f"Focus on {state['description']} cannot be seen: " + "; ".join(problems)


def tab_to(page, wanted, limit=200):
    """Press Tab until `wanted(state)` holds, checking on the way that every focus stop is visible."""
    visited = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        state = focus_state(page)
        assert state is not None, f"Tab left the page without reaching it; focus went through: {visited}"
        assert_focus_is_visible(state)
        visited.append(state["description"])
        if wanted(state):
            return state
    raise AssertionError(f"Tab never reached it; focus went through: {visited}")


def press_enter_and_arrive(page, path):
    page.keyboard.press("Enter")
    assert_on(page, path)


def link_text(text):
    return lambda state: state["text"] == text


def test_keyboard_user_does_the_same_journey_with_tab_and_enter(live_site, new_page):
    page = new_page(live_site)
    page.goto("/")

    # The first Tab shows the skip link; Enter moves focus into the main content.
    state = tab_to(page, lambda state: True, limit=1)
    assert state["text"] == "Skip to main content"
    page.keyboard.press("Enter")
    assert page.evaluate("location.hash") == "#main-content"
    assert page.evaluate("document.activeElement.id") == "main-content"
    state = tab_to(page, lambda state: True, limit=1)
    assert state["inMain"], f"After the skip link, Tab went to {state['description']}, outside <main>"

    if state["text"] != "Browse all case studies":
        tab_to(page, link_text("Browse all case studies"))
    press_enter_and_arrive(page, "/case-studies/")

    tab_to(page, lambda state: state["text"] == "Security" and state["href"].endswith("?tag=security"))
    press_enter_and_arrive(page, "/case-studies/?tag=security")
    assert card_titles(page) == [SEED["securevault"], SEED["mediconnect"]]

    tab_to(page, lambda state: state["label"] == "Remove the filter Security")
    press_enter_and_arrive(page, "/case-studies/")
    assert len(card_titles(page)) == len(SEED)

    tab_to(page, link_text(SEED["mediconnect"]))
    press_enter_and_arrive(page, "/case-studies/mediconnect/")

    # A tag in the study's header.
    tab_to(page, link_text("HIPAA"))
    press_enter_and_arrive(page, "/case-studies/?tag=hipaa")
    assert card_titles(page) == [SEED["mediconnect"]]

    tab_to(page, link_text(SEED["mediconnect"]))
    press_enter_and_arrive(page, "/case-studies/mediconnect/")
    tab_to(page, lambda state: state["text"].lower().startswith("older"))
    press_enter_and_arrive(page, "/case-studies/financeai/")
    tab_to(page, lambda state: state["text"].lower().startswith("newer"))
    press_enter_and_arrive(page, "/case-studies/mediconnect/")

    # The rest of the study page (contents, heading anchors that appear on focus, related studies,
    # the pager, the footer) shows its focus at every stop.
    for _ in range(400):
        page.keyboard.press("Tab")
        state = focus_state(page)
        if state is None:
            break
        assert_focus_is_visible(state)
    else:
        raise AssertionError("Tab never left the page")
    assert page.problems == []


STUDY_BODY = """\
## The problem

Checkout pages timed out under load; the fix was a queue in front of the workers.

```python
def handle(order):
    return queue.put(order, timeout=2)
```

## The design

```dot
// caption: Orders flow through a queue to the workers
digraph { Orders -> Queue -> Workers }
```
"""


def test_author_drafts_previews_publishes_and_renames_a_study(author_site, new_page):
    page = new_page(author_site)
    log_in(page)
    page.locator("tr.model-casestudy").get_by_role("link", name="Add").click()
    assert_on(page, "/admin/casestudies/casestudy/add/")

    title = "Checkout Queue: Surviving Black Friday"
    page.locator("#id_title").press_sequentially(title)
    # The slug follows the title as it is typed.
    assert page.locator("#id_slug").input_value() == "checkout-queue-surviving-black-friday"
    page.locator("#id_summary").fill("How a queue in front of the workers kept checkout up under load.")
    page.locator("#id_body").fill(STUDY_BODY)
    page.locator("#id_tags").fill("Performance, Queues")
    page.locator("#id_status").select_option("draft")

    # The live preview renders the body beside the editor: highlighted code and the diagram.
    preview = page.locator(".pv-prose")
    preview.locator(".highlight").filter(has_text="def handle(order)").wait_for()
    assert preview.locator("figure.diagram svg").is_visible()
    assert preview.locator("figure.diagram figcaption").inner_text() == (
        "Orders flow through a queue to the workers"
    )
    assert preview.get_by_role("heading", name="The design").is_visible()
    label_fill, box_fill = preview.locator("figure.diagram .node").first.evaluate(
        "node => [node.querySelector('text'), node.querySelector('path, polygon, ellipse')]"
        ".map(part => getComputedStyle(part).fill)"
    )
    assert label_fill != box_fill, f"The preview draws diagram labels in their boxes' colour ({box_fill})"
    assert page.locator(".pv-problems").is_hidden()

    # A broken diagram is reported while typing, as saving would report it, and shown as code.
    page.locator("#id_body").fill(STUDY_BODY.replace("Queue -> Workers }", "Queue -> }"))
    page.locator(".pv-problems li").filter(has_text="Diagram 1 could not be drawn").wait_for()
    assert preview.locator("figure.diagram").count() == 0
    page.locator("#id_body").fill(STUDY_BODY)
    page.locator(".pv-problems").wait_for(state="hidden")
    preview.locator("figure.diagram svg").wait_for()

    page.get_by_role("button", name="Save and continue editing").click()
    page.locator(".messagelist .success").wait_for()
    assert page.locator(".messagelist .error").count() == 0
    change_url = page.url
    old_path = "/case-studies/checkout-queue-surviving-black-friday/"

    # A draft is nowhere for a visitor. Each check is a new visitor: one who came before may
    # rightly be shown the list their browser keeps for a few minutes (Cache-Control max-age).
    visitor = new_page(author_site)
    visitor.goto("/case-studies/")
    assert title not in card_titles(visitor)
    assert visitor.goto(old_path).status == 404
    visitor.problems.clear()  # Chromium logs the 404 it was expected to get

    page.locator("#id_status").select_option("published")
    page.get_by_role("button", name="Save and continue editing").click()
    page.locator(".messagelist .success").wait_for()

    visitor = new_page(author_site)
    visitor.goto("/case-studies/")
    assert card_titles(visitor)[0] == title
    assert len(card_titles(visitor)) == len(SEED) + 1
    visitor.get_by_role("link", name=title).click()
    assert_on(visitor, old_path)
    assert visitor.locator(".prose .highlight").filter(has_text="def handle(order)").is_visible()
    assert visitor.locator(".prose figure.diagram svg").is_visible()
    assert visitor.locator(".study-header .tag").all_inner_texts() == ["Performance", "Queues"]
    assert visitor.problems == []

    page.goto(change_url)
    page.locator("#id_slug").fill("checkout-queue")
    page.get_by_role("button", name="Save and continue editing").click()
    page.locator(".messagelist .success").wait_for()

    # The old address answers 301 and the browser lands on the new one.
    visitor = new_page(author_site)
    response = visitor.request.get(old_path, max_redirects=0)
    assert response.status == 301
    assert response.headers["location"] == "/case-studies/checkout-queue/"
    visitor.goto(old_path)
    assert_on(visitor, "/case-studies/checkout-queue/")
    assert visitor.locator("h1").inner_text() == title
    assert visitor.problems == []
    assert page.problems == []


# Every picture of the page loaded (lazy ones too), and the address each was taken from.
LOAD_EVERY_PICTURE = """async () => {
  const sources = [];
  for (const img of document.querySelectorAll("main img")) {
    img.loading = "eager";
    if (!img.complete) await new Promise(done => { img.onload = img.onerror = done; });
    sources.push(img.currentSrc);
  }
  return sources;
}"""


def camera_photo(path, width=2400, height=1800):
    """A JPEG as a phone writes one: turned by its EXIF orientation, with a GPS position."""
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x013B] = "Author Name"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (51.0, 30.0, 26.0)
    Image.new("RGB", (width, height), (40, 90, 160)).save(path, "JPEG", exif=exif, quality=90)
    return path


def test_author_adds_a_cover_and_two_figures_and_a_phone_gets_small_clean_renditions(
    author_site, new_page, tmp_path
):
    page = new_page(author_site)
    log_in(page, "/admin/casestudies/casestudy/")
    page.get_by_role("link", name=SEED["northstar"]).click()
    body = page.locator("#id_body")
    body.fill(
        body.input_value()
        + '\n\n![The whiteboard after the first session](whiteboard.jpg "Week one")\n\n'
        + "![Requests per second, before and after](chart.png)\n"
    )
    Image.new("RGB", (1600, 900), (200, 80, 40)).save(tmp_path / "chart.png")
    uploads = [
        (camera_photo(tmp_path / "cover.jpg"), "The team at the launch", True),
        (camera_photo(tmp_path / "whiteboard.jpg"), "A whiteboard of boxes and arrows", False),
        (tmp_path / "chart.png", "A bar chart", False),
    ]
    page.get_by_role("button", name="Add another image").click()
    # The images table fits the form: nothing to scroll sideways for.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    for row, (path, alt, cover) in enumerate(uploads):
        page.locator(f"#id_images-{row}-upload").set_input_files(path)
        page.locator(f"#id_images-{row}-alt").fill(alt)
        if cover:
            page.locator(f"#id_images-{row}-is_cover").check()
    page.get_by_role("button", name="Save and continue editing").click()
    page.locator(".messagelist .success").wait_for()
    assert page.locator(".messagelist .error").count() == 0

    # The rows show a thumbnail and the Markdown to paste; the live preview shows the figures.
    assert page.locator(".study-image-thumbnail").count() == 3
    snippet = page.locator(".study-image-markdown", has_text='![A bar chart](chart.png "Caption")')
    assert snippet.count() == 1
    page.locator("#id_body").press("End")
    page.locator("#id_body").type(" ")
    preview = page.locator(".pv-prose")
    preview.locator("figure.figure img").nth(1).wait_for()
    assert preview.locator("figure.figure figcaption").first.inner_text() == "Week one"

    # A visitor's phone: the cover first, small renditions in a modern format, no EXIF in them.
    phone = new_page(author_site, width=375, height=740)
    phone.goto("/case-studies/northstar/")
    cover = phone.locator(".study-cover img")
    assert cover.get_attribute("fetchpriority") == "high"
    pictures = phone.evaluate(LOAD_EVERY_PICTURE)
    assert len(pictures) == 3
    for source in pictures:
        assert source.endswith((".avif", ".webp")), source
        assert re.search(r"-(480|960)\.(avif|webp)$", source), f"{source} is not a phone's width"
        data = phone.request.get(source).body()
        assert b"Exif" not in data
        assert b"Author Name" not in data
