"""Every public URL survives hostile input: a 4xx or a normal page, never a 500.

Property-based (hypothesis) against the real URL conf through the test client:
huge, unicode, control-character and SQL-looking values in every parameter and
path segment, plus the classic cases written out. On CI (CI=true) the examples
are derandomised, so a run is reproducible; locally each run explores anew.
HYPOTHESIS_PROFILE picks a profile by name.
"""

import os
from urllib.parse import quote, urlencode

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from casestudies.previews import share_link
from tests.factories import CaseStudyFactory, draft

pytestmark = pytest.mark.django_db

_common = {
    "max_examples": 200,
    "deadline": None,
    # Examples share the test's database and client, which only read.
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    # No .hypothesis/ directory in the work tree.
    "database": None,
}
settings.register_profile("ci", derandomize=True, **_common)
settings.register_profile("dev", **_common)
# `make test-fast`: the edit-test loop tries half as many inputs a run; each run draws new ones.
settings.register_profile("fast", **{**_common, "max_examples": 100})
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI", "").lower() == "true" else "dev")
)

SQL_LIKE = [
    "' OR '1'='1",
    "1; DROP TABLE casestudies_casestudy; --",
    "security' --",
    '" OR ""="',
    "%",
    "_",
    "%%",
    "\\",
    "' UNION SELECT password FROM auth_user --",
    "1/0",
    "NULL",
    "$1",
    "?",
    ":name",
    "%(name)s",
    "<script>alert(1)</script>",
    "../../etc/passwd",
    "${jndi:ldap://x}",
    "{{ settings.SECRET_KEY }}",
]
ODD = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\r\n",
    "\t",
    "\x1b[31m",
    "\u202e",
    "\ufeff",
    "\ufffd",
    "😀",
    "İ",
    "ß",
    "Ǆ",
    "ﬁ",
    "e\u0301",
    "零",
    "-1",
    "0",
    "00",
    "1e3",
    "٣",
    str(10**30),
    "9" * 400,
    "x" * 10_000,
]

hostile_text = st.one_of(
    st.sampled_from(SQL_LIKE + ODD),
    st.text(max_size=50),
    st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=30),
    st.text(alphabet=st.characters(categories=["Cc", "Cf", "Zs"]), max_size=10),
    st.integers(min_value=-(10**40), max_value=10**40).map(str),
    st.text(min_size=300, max_size=3000),
)
LIST_PARAMETERS = ["tag", "match", "exclude", "q", "page"]
parameter_name = st.one_of(st.sampled_from(LIST_PARAMETERS), hostile_text)
query_pairs = st.lists(st.tuples(parameter_name, hostile_text), max_size=8)
# A raw query string: percent escapes that are invalid or not UTF-8 reach the parser as sent.
raw_query = st.lists(
    st.sampled_from(
        [
            "tag=",
            "q=",
            "page=",
            "match=",
            "exclude=",
            "%FF",
            "%C0%AF",
            "%",
            "%zz",
            "%00",
            "&",
            "=",
            ";",
            "+",
            "a",
        ]
    )
    | st.text(alphabet="%&=+;#?/abcDEF0123456789", max_size=4),
    max_size=12,
).map("".join)
path_segment = hostile_text.filter(bool).map(lambda text: quote(text, safe=""))


@pytest.fixture
def site(db):
    """A few published studies with tags, one draft, and a client that keeps no exceptions to itself."""
    study = CaseStudyFactory(title="Secure Vault", slug="secure-vault", tags=["Security", "Encryption"])
    CaseStudyFactory(title="Shop Flow", slug="shop-flow", tags=["Payments", "Zero-Knowledge"])
    hidden = draft(title="Hidden Draft", slug="hidden-draft")
    return {"client": Client(raise_request_exception=False), "study": study, "draft": hidden}


def assert_answered(response, path):
    """A 4xx or a normal page: never a 500, and a 200 is the page it claims to be."""
    assert response.status_code < 500, (path[:300], response.status_code)
    if response.status_code in (301, 302, 303, 307, 308):
        assert response["Location"]
    if response.status_code == 200:
        content_type = response["Content-Type"]
        body = response.content
        if content_type.startswith("text/html"):
            assert body.lstrip().startswith(b"<!doctype html>"), path[:300]
            assert body.count(b"<h1") == 1, path[:300]
            assert body.rstrip().endswith(b"</html>"), path[:300]
        elif "xml" in content_type:
            assert body.startswith(b"<?xml"), path[:300]
        elif content_type == "image/png":
            assert body.startswith(b"\x89PNG"), path[:300]
        else:
            assert content_type.startswith("text/plain"), (path[:300], content_type)


def get(site, path):
    response = site["client"].get(path)
    assert_answered(response, path)
    return response


# Query strings on every public page that reads one


@pytest.mark.parametrize(
    "base",
    ["/case-studies/", "/case-studies/feed/", "/", "/tags/", "/about/", "/robots.txt", "/sitemap.xml"],
)
@given(pairs=query_pairs)
def test_hostile_query_strings(site, base, pairs):
    get(site, f"{base}?{urlencode(pairs)}")


@pytest.mark.parametrize("name", LIST_PARAMETERS)
@given(value=hostile_text)
def test_one_hostile_filter_parameter(site, name, value):
    # One parameter alone is often already the canonical spelling: it reaches the queries, not a redirect.
    for base in ["/case-studies/", "/case-studies/feed/"]:
        get(site, f"{base}?{urlencode({name: value})}")


@pytest.mark.parametrize("base", ["/case-studies/", "/case-studies/feed/"])
@given(query=raw_query)
def test_raw_and_malformed_query_strings(site, base, query):
    get(site, f"{base}?{query}")


# Path segments: a study, its card, a share preview, a sitemap section


@given(slug=path_segment)
def test_hostile_study_slugs(site, slug):
    get(site, f"/case-studies/{slug}/")


@given(slug=path_segment)
def test_hostile_card_slugs(site, slug):
    get(site, f"/case-studies/{slug}/card.png")


@given(token=path_segment)
def test_hostile_share_preview_tokens(site, token):
    response = get(site, f"/case-studies/preview/{token}/")
    assert response.status_code in (404, 405, 410) or response.status_code < 400


@given(section=path_segment, page=st.one_of(st.none(), hostile_text))
def test_hostile_sitemap_sections_and_pages(site, section, page):
    query = "" if page is None else "?" + urlencode({"p": page})
    get(site, f"/sitemap-{section}.xml{query}")


@pytest.mark.parametrize("section", ["pages", "studies", "tags"])
@given(page=hostile_text)
def test_hostile_sitemap_page_numbers(site, section, page):
    get(site, f"/sitemap-{section}.xml?{urlencode({'p': page})}")


@given(pairs=query_pairs)
def test_hostile_query_strings_on_a_study_its_card_and_a_share_link(site, pairs):
    query = urlencode(pairs)
    for path in [
        "/case-studies/secure-vault/",
        "/case-studies/secure-vault/card.png",
        share_link(site["draft"]).path,
    ]:
        get(site, f"{path}?{query}")


# The classic cases, written out


@pytest.mark.parametrize(
    "path",
    [
        "/case-studies/?" + "&".join(f"tag=tag{n}" for n in range(1000)),
        "/case-studies/?" + "&".join(["tag=security"] * 1000),
        "/case-studies/?" + "&".join(f"tag=tag{n}" for n in range(5000)),
        "/case-studies/feed/?" + "&".join(f"tag=tag{n}" for n in range(1000)),
        "/case-studies/?page=-1",
        "/case-studies/?page=0",
        f"/case-studies/?page={10**30}",
        "/case-studies/?page=1&page=2",
        "/case-studies/?page=%EF%BC%92",
        "/sitemap-studies.xml?p=-1",
        "/sitemap-studies.xml?p=0",
        f"/sitemap-studies.xml?p={10**30}",
        "/" + "a" * 10_240,
        "/case-studies/" + "a" * 10_240 + "/",
        "/case-studies/?q=" + "a" * 10_240,
        "/case-studies/?q=%00",
        "/case-studies/?tag=%00",
        "/case-studies/?tag=secu%00rity",
        "/case-studies/?exclude=%00",
        "/case-studies/?match=%00",
        "/case-studies/%00/",
        "/case-studies/secure-vault%00/",
        "/case-studies/feed/?q=%00&tag=%00",
        "/case-studies/?q=%FF",
        "/case-studies/?tag=%FF%FE",
        "/case-studies/?tag=%C0%AF",
        "/case-studies/%FF/",
        "/case-studies/preview/%FF/",
        "/case-studies/preview/%00/",
        "/%FF",
        "/about/?%FF=%FF",
        "/sitemap-%FF.xml",
        "/case-studies/secure-vault/card.png?%00",
    ],
)
def test_classic_hostile_requests(site, path):
    get(site, path)


def test_a_thousand_tags_is_refused_out_loud(site):
    response = site["client"].get("/case-studies/?" + "&".join(f"tag=tag{n}" for n in range(1000)))
    assert response.status_code == 400
    assert b"at most 5" in response.content


@pytest.mark.parametrize("page", ["-1", "0", str(10**30), "1.0", " 1", "١"])
def test_impossible_page_numbers_are_404(site, page):
    assert site["client"].get("/case-studies/", {"page": page}).status_code == 404


@pytest.mark.parametrize(
    "host",
    [
        "evil.example",
        "localhost.evil.example",
        "a" * 300,
        "local host",
        "[::1",
        "localhost\x00",
        "localhost/../",
        "_",
        "xn--nxasmq6b",
        "exa\u00e4mple.com",
    ],
)
@pytest.mark.parametrize("path", ["/", "/case-studies/", "/readyz", "/robots.txt"])
def test_bad_host_headers_are_refused_with_400(site, host, path):
    response = site["client"].get(path, HTTP_HOST=host)
    assert response.status_code == 400
    assert b"Traceback" not in response.content


@given(host=hostile_text)
def test_any_host_header_is_served_or_refused(site, host):
    response = site["client"].get("/", HTTP_HOST=host)
    assert response.status_code in (200, 400)


@given(
    headers=st.dictionaries(
        st.sampled_from(
            [
                "HTTP_X_REQUEST_ID",
                "HTTP_ACCEPT_LANGUAGE",
                "HTTP_IF_NONE_MATCH",
                "HTTP_IF_MODIFIED_SINCE",
                "HTTP_X_FORWARDED_PROTO",
                "HTTP_X_FORWARDED_FOR",
                "HTTP_REFERER",
                "HTTP_USER_AGENT",
                "HTTP_ACCEPT_ENCODING",
                "HTTP_RANGE",
            ]
        ),
        hostile_text,
        max_size=4,
    )
)
def test_hostile_request_headers(site, headers):
    for path in ["/case-studies/", "/case-studies/secure-vault/card.png", "/case-studies/feed/"]:
        response = site["client"].get(path, **headers)
        assert_answered(response, path)


@pytest.mark.parametrize("query", ["tag=%00", "tag=secu%00rity", "exclude=a%1Bb", "tag=%E2%80%AEsecurity"])
def test_a_control_character_in_a_tag_is_a_400_that_says_why(site, query):
    response = site["client"].get(f"/case-studies/?{query}")
    assert response.status_code == 400
    assert "control character" in response.content.decode()
