"""Seeing a study before it is public.

Two ways: the admin's live preview of a body as it is typed (a staff-only
endpoint that runs the public page's rendering pipeline), and share links, a
signed address that lets a reviewer without an account read a draft until the
link expires.
"""

import datetime
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from casestudies.models import CaseStudy
from casestudies.rendering import BodyRefused, reading_minutes, render_markdown
from casestudies.views import for_study_page, study_page_context

# Far beyond any study (the longest seed body is ~10 KB); refused out loud, not truncated.
MAX_PREVIEW_BYTES = 200 * 1024
SHARE_SALT = "casestudies.previews.share"
# A real token is about 70 characters; a longer one is not worth an HMAC.
MAX_TOKEN_LENGTH = 200
EXPIRY_FORMAT = "F j, Y, H:i e"


# The admin's live preview


def can_write(user):
    return (
        user.is_active
        and user.is_staff
        and (user.has_perm("casestudies.add_casestudy") or user.has_perm("casestudies.change_casestudy"))
    )


@never_cache
@require_POST
def body_preview(request):
    """A body being edited, rendered and sanitised exactly as the study page will show it: with the
    study's uploaded images when a saved study is named in the "study" field."""
    if not can_write(request.user):
        message = "Only staff who may write case studies can preview. Are you still logged in?"
        return JsonResponse({"error": message}, status=403)
    body = request.POST.get("body")
    if body is None:
        return JsonResponse({"error": "Send the Markdown to preview in a “body” field."}, status=400)
    size = len(body.encode())
    if size > MAX_PREVIEW_BYTES:
        message = (
            f"The body is {size / 1024:.0f} KB; the live preview stops at {MAX_PREVIEW_BYTES // 1024} KB. "
            "Save the study and view it on the site instead."
        )
        return JsonResponse({"error": message}, status=413)
    study_id = request.POST.get("study")
    study = None
    if study_id:
        # The study being edited, whose uploaded images the preview shows as its page will.
        # The admin's rule for a study's change form: the model permission, whichever the study.
        if not request.user.has_perm("casestudies.change_casestudy"):
            return JsonResponse({"error": "Only staff who may change this study can preview it."}, status=403)
        # Digits that fit a database's integer: a longer number is no study's.
        if not (study_id.isascii() and study_id.isdigit() and len(study_id) <= 18):
            return JsonResponse({"error": "The “study” field must be a study's number."}, status=400)
        study = CaseStudy.objects.filter(pk=int(study_id)).first()
        if study is None:
            message = "This study no longer exists: it may have been deleted since the page was opened."
            return JsonResponse({"error": message}, status=404)
    # As CaseStudy.save() does: one kind of newline.
    body = body.replace("\r\n", "\n")
    try:
        rendered = render_markdown(body, study.images_by_name() if study else None)
    except BodyRefused as refusal:
        return JsonResponse({"error": refusal.message}, status=422)
    return JsonResponse(
        {
            "html": rendered.html,
            "toc_html": rendered.toc_html,
            "reading_minutes": reading_minutes(body),
            # What saving would report too (a diagram that cannot be drawn), seen while typing.
            "problems": list(rendered.problems),
        }
    )


# Share links


@dataclass(frozen=True)
class ShareLink:
    path: str
    expires_at: datetime.datetime


def share_link(study):
    """A fresh link to `study` that works without an account until PREVIEW_LINK_MAX_AGE from now."""
    until = int(timezone.now().timestamp()) + settings.PREVIEW_LINK_MAX_AGE
    # The primary key, not the slug: a draft renamed after sharing keeps its link.
    # The expiry is signed in, so the date the admin shows is the date that holds.
    token = signing.Signer(salt=SHARE_SALT).sign_object([study.pk, until])
    return ShareLink(
        path=reverse("casestudies:shared_preview", args=[token]),
        expires_at=datetime.datetime.fromtimestamp(until, tz=datetime.UTC),
    )


def read_share_token(token):
    """The study pk and expiry signed into `token`; BadSignature for anything we did not sign."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise signing.BadSignature("Token too long.")
    payload = signing.Signer(salt=SHARE_SALT).unsign_object(token)
    match payload:
        case [int(pk), int(until)]:
            return pk, datetime.datetime.fromtimestamp(until, tz=datetime.UTC)
    raise signing.BadSignature("Not a share-preview token.")


@never_cache
@require_safe
def shared_preview(request, token):
    """A draft for a reviewer without an account, while the link lasts."""
    try:
        pk, expires_at = read_share_token(token)
    except signing.BadSignature:
        return keep_private(render(request, "casestudies/preview_unavailable.html", status=404))
    study = for_study_page(CaseStudy.objects.all()).filter(pk=pk).first()
    if study is None:
        response = render(request, "casestudies/preview_unavailable.html", status=404)
    elif study.is_public:
        # Published since the link was made: the public page is the one to read, even on an old link.
        response = redirect(study)
    elif expires_at <= timezone.now():
        context = {"expired_at": expires_at}
        response = render(request, "casestudies/preview_unavailable.html", context, status=403)
    else:
        context = {**study_page_context(study), "share_expires_at": expires_at}
        response = render(request, "casestudies/detail.html", context)
    return keep_private(response)


def keep_private(response):
    """The token is the key to a draft: no search engine, cache or followed link may keep it."""
    response["X-Robots-Tag"] = "noindex"
    response["Referrer-Policy"] = "no-referrer"
    return response


def share_preview_field(study):
    """What the admin's "Share preview" field shows: a fresh link for a study not yet public."""
    if study.pk is None:
        return "Save the study first: a draft gets a link here that you can send to a reviewer."
    if study.is_public:
        return "Published: share the study's own address."
    link = share_link(study)
    expires = date_format(timezone.localtime(link.expires_at), EXPIRY_FORMAT)
    return format_html(
        '<span class="share-preview">'
        '<input type="text" readonly class="vTextField share-preview-url" value="{}" '
        'aria-label="Share-preview link" aria-describedby="share-preview-help" data-share-preview-url> '
        '<a href="{}" target="_blank" rel="noopener">Open</a></span>'
        '<span class="share-preview-help" id="share-preview-help">'
        "Anyone with this link can read the study, without an account, until {}. "
        "Once the study is public the link leads to its page. Each visit here makes a fresh link."
        "</span>",
        link.path,
        link.path,
        expires,
    )
