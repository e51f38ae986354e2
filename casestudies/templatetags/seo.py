"""What a page tells search engines and link previews.

base.html `{% capture %}`s its title and description blocks; includes/meta.html
asks `{% page_meta %}` for the rest: the canonical URL, robots, the OpenGraph
type and image, and the JSON-LD.
"""

import json
from dataclasses import dataclass
from urllib.parse import urlencode

from django import template
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import escape_uri_path
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from casestudies import socialcards

register = template.Library()

# The query parameters that make a page what it is, by view. Every other one
# (utm_*, fbclid, gclid, ref, a search's q, anything unknown) names the same page.
PAGE_PARAMETERS = {"casestudies:list": ("tag", "match", "exclude", "page")}
# Search results, tag combinations and exclusions are for readers, not for an index:
# each is a near-copy of pages that are indexed. Their links are still followed.
NOINDEX = "noindex, follow"
# As Django's json_script: the JSON can never end the <script> element early.
LIST_NAME = "Case Studies"
JSON_SCRIPT_ESCAPES = {ord("<"): "\\u003C", ord(">"): "\\u003E", ord("&"): "\\u0026"}


@dataclass(frozen=True)
class Image:
    url: str
    alt: str
    width: int = socialcards.WIDTH
    height: int = socialcards.HEIGHT


@dataclass(frozen=True)
class PageMeta:
    site_name: str
    title: str
    type: str = "website"
    canonical: str = ""
    robots: str = ""
    image: Image | None = None
    modified: object = None
    json_ld: str = ""


class CaptureNode(template.Node):
    def __init__(self, nodelist, name):
        self.nodelist = nodelist
        self.name = name

    def render(self, context):
        # Already escaped by the template it came from.
        context[self.name] = mark_safe(self.nodelist.render(context).strip())  # noqa: S308
        return ""


@register.tag
def capture(parser, token):
    """`{% capture name %}...{% endcapture %}`: render the contents once, into a variable.

    Blocks inside still work, so base.html can hand a page's `title` block to meta.html.
    """
    bits = token.split_contents()
    if len(bits) != 2:
        raise template.TemplateSyntaxError("Use {% capture name %}...{% endcapture %}.")
    nodelist = parser.parse(("endcapture",))
    parser.delete_first_token()
    return CaptureNode(nodelist, bits[1])


@register.simple_tag(takes_context=True)
def page_meta(context, article=None, error=False):
    """Everything meta.html shows beyond the title and description.

    `article`: the study the page is about. `error`: an error page, which has no
    canonical address and nothing to index.
    """
    request = context.get("request")
    profile = context.get("profile")
    site_name = profile.site_title if profile else ""
    title = article.title if article else context.get("page_title", "")
    if request is None or error:
        return PageMeta(site_name=site_name, title=title)
    if not article:
        view_name = request.resolver_match.view_name if request.resolver_match else None
        return PageMeta(
            site_name=site_name,
            title=title,
            canonical=canonical_url(request),
            robots=robots(request),
            json_ld=json_ld_script(page_graph(request, view_name, profile)),
        )

    canonical = request.build_absolute_uri(article.get_absolute_url())
    image = None
    if article.is_public:
        # A draft's card is not public: no link preview may ask for it.
        url = request.build_absolute_uri(socialcards.card_url(article, site_name))
        image = Image(url=url, alt=article.title)
    modified = max(article.updated_at, article.published_at)
    graph = [
        study_article(request, article, profile, canonical, article_image(request, article, image), modified),
        breadcrumbs(request, [(LIST_NAME, reverse("casestudies:list")), (article.title, canonical)]),
    ]
    return PageMeta(
        site_name=site_name,
        title=title,
        type="article",
        canonical=canonical,
        robots=robots(request),
        image=image,
        modified=modified,
        json_ld=json_ld_script(graph),
    )


def canonical_url(request):
    """The page's absolute URL with only the query parameters that define it."""
    match = request.resolver_match
    names = PAGE_PARAMETERS.get(match.view_name if match else None, ())
    params = [
        (name, value)
        for name in names
        for value in request.GET.getlist(name)
        if value and not (name == "page" and value == "1")
    ]
    query = f"?{urlencode(params)}" if params else ""
    return request.build_absolute_uri(escape_uri_path(request.path) + query)


def robots(request):
    match = request.resolver_match
    on_list = match and match.view_name == "casestudies:list"
    if on_list and (len(request.GET.getlist("tag")) > 1 or request.GET.get("exclude")):
        return NOINDEX
    if request.GET.get("q", "").strip():
        return NOINDEX
    return ""


def study_article(request, study, profile, canonical, image, modified):
    home = request.build_absolute_uri(reverse("casestudies:home"))
    if profile.author_name:
        author = {"@type": "Person", "name": profile.author_name, "url": home}
    else:
        author = {"@type": "Organization", "name": profile.site_title, "url": home}
    article = {
        "@type": "Article",
        "headline": study.title,
        "description": study.summary,
        "datePublished": timezone.localtime(study.published_at).isoformat(),
        "dateModified": timezone.localtime(modified).isoformat(),
        "author": author,
        "keywords": [tag.name for tag in study.tag_list],
        "mainEntityOfPage": {"@type": "WebPage", "@id": canonical},
        "url": canonical,
    }
    if image:
        article["image"] = {
            "@type": "ImageObject",
            "url": image.url,
            "width": image.width,
            "height": image.height,
        }
    return article


def article_image(request, study, share_image):
    """The Article's image: the cover itself at its widest, which search engines prefer to a
    picture of the title; else the share image. None for a draft, which no one outside may preview."""
    cover = study.cover
    if share_image is None or cover is None:
        return share_image
    url, width, height = cover.widest_rendition()
    return Image(url=request.build_absolute_uri(url), alt=cover.alt, width=width, height=height)


# Where each page other than a study sits under Home, for its BreadcrumbList.
TRAILS = {
    "casestudies:list": [(LIST_NAME, "casestudies:list")],
    "casestudies:tags": [("Tags", "casestudies:tags")],
    "siteprofile:about": [("About", "siteprofile:about")],
}


def page_graph(request, view_name, profile):
    """The JSON-LD of a page other than a study: the site on the home page, else where the page sits."""
    if view_name == "casestudies:home":
        home = request.build_absolute_uri(reverse("casestudies:home"))
        website = {"@type": "WebSite", "name": profile.site_title, "url": home}
        if profile.tagline:
            website["description"] = profile.tagline
        if profile.author_name:
            website["author"] = {"@type": "Person", "name": profile.author_name, "url": home}
        return website
    trail = TRAILS.get(view_name)
    if trail is None:
        return None
    return breadcrumbs(request, [(name, reverse(url_name)) for name, url_name in trail])


def breadcrumbs(request, trail):
    """Home, then `trail`: (name, URL) pairs."""
    crumbs = [("Home", reverse("casestudies:home")), *trail]
    return {
        "@type": "BreadcrumbList",
        "itemListElement": [
            {"@type": "ListItem", "position": position, "name": name, "item": request.build_absolute_uri(url)}
            for position, (name, url) in enumerate(crumbs, start=1)
        ],
    }


def json_ld_script(data):
    """One `<script type="application/ld+json">`: data, not code, escaped as Django's json_script is."""
    if data is None:
        return ""
    if isinstance(data, list):
        data = {"@context": "https://schema.org", "@graph": data}
    else:
        data = {"@context": "https://schema.org", **data}
    text = json.dumps(data, ensure_ascii=False).translate(JSON_SCRIPT_ESCAPES)
    return format_html('<script type="application/ld+json">{}</script>', SafeString(text))
