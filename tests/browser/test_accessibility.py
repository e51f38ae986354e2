"""axe-core finds nothing wrong on any public page or the admin's study form, in light and dark."""

import json

import pytest

from tests.browser.conftest import BASE_DIR, log_in
from tests.conftest import require_service

pytestmark = pytest.mark.browser

AXE_JS = BASE_DIR / "node_modules" / "axe-core" / "axe.min.js"

PUBLIC_PAGES = {
    "home": "/",
    "list": "/case-studies/",
    "filtered list": "/case-studies/?tag=security",
    "list narrowed by two tags": "/case-studies/?tag=real-time&tag=scalability",
    "study with a diagram": "/case-studies/financeai/",
    "study": "/case-studies/securevault/",
    "tags": "/tags/",
    "about": "/about/",
    "not found": "/no-such-page/",
}
SCHEMES = ["light", "dark"]

# axe's default rules: WCAG 2.0-2.2 A and AA (contrast included) and its best practices.
RUN_AXE = """async () => {
  const results = await axe.run(document, {resultTypes: ["violations"]});
  return results.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
    nodes: v.nodes.map(n => ({target: n.target.join(" "), html: n.html, summary: n.failureSummary})),
  }));
}"""


def axe_violations(page):
    page.add_script_tag(path=str(AXE_JS))
    return page.evaluate(RUN_AXE)


def readable(violations):
    lines = []
    for violation in violations:
        lines.append(
            f"\n[{violation['impact']}] {violation['id']}: {violation['help']} ({violation['helpUrl']})"
        )
        for node in violation["nodes"]:
            lines.append(f"  at {node['target']}\n    {node['html'][:200]}")
            lines.extend(f"    {line}" for line in node["summary"].splitlines())
    return "\n".join(lines)


@pytest.fixture
def axe_page(new_page, live_site):
    require_service(AXE_JS.exists(), "axe-core is not installed: run `npm ci` (Node.js and npm are needed)")

    def make(color_scheme):
        # bypass_csp: axe is injected as an inline script, which a strict policy would refuse.
        return new_page(live_site, color_scheme=color_scheme, bypass_csp=True)

    return make


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("name", PUBLIC_PAGES)
def test_public_page_has_no_axe_violations(axe_page, name, scheme):
    page = axe_page(scheme)
    response = page.goto(PUBLIC_PAGES[name])
    assert response.status == (404 if name == "not found" else 200)
    violations = axe_violations(page)
    assert not violations, f"axe-core on {name} ({scheme}):" + readable(violations)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_admin_study_form_has_no_axe_violations(axe_page, scheme):
    page = axe_page(scheme)
    log_in(page, "/admin/casestudies/casestudy/")
    page.get_by_role("link", name="FinanceAI", exact=False).first.click()
    page.wait_for_url("**/change/")
    # With the live preview drawn beside the editor (code and a diagram in it).
    page.locator(".pv-prose figure.diagram svg").wait_for()
    violations = axe_violations(page)
    assert not violations, f"axe-core on the admin's study form ({scheme}):" + readable(violations)


def test_reduced_motion_turns_transitions_off(new_page, live_site):
    page = new_page(live_site, reduced_motion="reduce")
    page.goto("/case-studies/")
    card = page.locator(".card").first
    assert card.evaluate("el => getComputedStyle(el).transitionDuration") in {"0s", "0s, 0s"}
    card.hover()
    assert card.evaluate("el => getComputedStyle(el).transform") == "none"


def test_axe_reports_a_broken_page(axe_page):
    """A page with known faults: proof that axe ran and that its report is read."""
    page = axe_page("light")
    page.goto("/no-such-page/")
    page.evaluate("""() => {
      const img = document.createElement("img");
      img.src = "data:image/gif;base64,R0lGODlhAQABAAAAACw=";
      document.querySelector("main").append(img);
    }""")
    ids = {violation["id"] for violation in axe_violations(page)}
    assert "image-alt" in ids, json.dumps(sorted(ids))
