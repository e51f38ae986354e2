import re
from urllib.parse import urlencode

from django.core.paginator import EmptyPage, Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers

from casestudies.models import CaseStudy, SlugRedirect, Tag

STUDIES_PER_PAGE = 12
LATEST_ON_HOME = 3
# More tags than this in one filter is not a real reader's question.
MAX_FILTER_TAGS = 5
PAGE_NUMBER = re.compile(r"[1-9][0-9]{0,5}")


def home(request):
    latest = CaseStudy.objects.published().with_tags()[:LATEST_ON_HOME]
    return render(request, "casestudies/home.html", {"latest": latest})


def study_list(request):
    requested = request.GET.getlist("tag")
    # One URL per filter: lowercase, no blanks or repeats, sorted.
    tag_slugs = sorted({slug.strip().lower() for slug in requested if slug.strip()})
    if len(tag_slugs) > MAX_FILTER_TAGS:
        message = f"A filter combines at most {MAX_FILTER_TAGS} tags; this one has {len(tag_slugs)}."
        return render(request, "400.html", {"message": message}, status=400)
    if tag_slugs != requested:
        return redirect(list_url(tag_slugs, page=request.GET.get("page")), permanent=True)

    studies = CaseStudy.objects.published()
    active_tags = []
    if tag_slugs:
        tags_by_slug = {tag.slug: tag for tag in Tag.objects.filter(slug__in=tag_slugs)}
        unknown = [slug for slug in tag_slugs if slug not in tags_by_slug]
        if unknown:
            raise Http404(f"No tag “{unknown[0]}”.")
        studies = studies.tagged_with_all(tag_slugs)
        active_tags = [
            {"tag": tags_by_slug[slug], "remove_url": list_url([s for s in tag_slugs if s != slug])}
            for slug in tag_slugs
        ]

    page = paginate(studies.with_tags(), request.GET.get("page"))
    return render(
        request,
        "casestudies/list.html",
        {
            "page": page,
            "studies": page.object_list,
            "active_tags": active_tags,
            "previous_page_url": page.has_previous() and list_url(tag_slugs, page.previous_page_number()),
            "next_page_url": page.has_next() and list_url(tag_slugs, page.next_page_number()),
        },
    )


def study_detail(request, slug):
    if slug != slug.lower():
        return redirect("casestudies:detail", slug=slug.lower(), permanent=True)
    visible = CaseStudy.objects.all() if can_preview(request.user) else CaseStudy.objects.published()
    study = visible.with_tags().prefetch_related("outcomes").filter(slug=slug).first()
    if study is None:
        # An address the study had before its slug changed keeps working.
        renamed = get_object_or_404(SlugRedirect.objects.select_related("study"), old_slug=slug).study
        get_object_or_404(visible, pk=renamed.pk)
        return redirect(renamed, permanent=True)
    published = CaseStudy.objects.published()
    context = {
        "study": study,
        "older": published.older_than(study).first(),
        "newer": published.newer_than(study).first(),
    }
    response = render(request, "casestudies/detail.html", context)
    if not study.is_public:
        # A preview must never be kept by a browser or a shared cache.
        add_never_cache_headers(response)
    return response


def can_preview(user):
    """Staff who may view studies in the admin may also read drafts on the site."""
    return user.is_active and user.is_staff and user.has_perm("casestudies.view_casestudy")


def paginate(queryset, page_param):
    """The requested page; anything but a page that exists is a 404."""
    if page_param is None:
        number = 1
    elif PAGE_NUMBER.fullmatch(page_param):
        number = int(page_param)
    else:
        raise Http404("No such page.")
    try:
        return Paginator(queryset, STUDIES_PER_PAGE).page(number)
    except EmptyPage:
        raise Http404("No such page.") from None


def list_url(tag_slugs, page=None):
    """The canonical URL of the list filtered by `tag_slugs`."""
    params = [("tag", slug) for slug in tag_slugs]
    if page is not None and str(page) != "1":
        params.append(("page", page))
    query = urlencode(params)
    return reverse("casestudies:list") + (f"?{query}" if query else "")
