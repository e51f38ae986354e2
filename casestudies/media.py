"""Uploaded images as visitors get them: sent by the site, or kept in an S3 bucket.

Without a bucket, `serve` sends a rendition from the default storage at MEDIA_URL. Only
renditions: a master, any other file and any other path are a 404, whatever is on disk.
A rendition's name never changes meaning, so it is cached for a year by browsers and
any proxy in front; the page cache does not keep it (a FileResponse streams, and
portfolio/pagecache.py stores no streaming response), nor does it need to: reading a
file is all the work there is. Nothing here reads the session or the user, so those
middlewares do nothing for it (no cookie, no Vary: Cookie).

With DJANGO_S3_BUCKET, pages point at the bucket (or a CDN) instead, and
`S3MediaStorage` uploads each file with the headers `serve` would send.
"""

from pathlib import PurePosixPath

from csp.constants import NONE
from csp.decorators import csp
from django.conf import settings
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404
from django.utils.cache import get_conditional_response
from django.utils.http import quote_etag
from django.views.decorators.http import require_safe
from storages.backends.s3 import S3Storage

from casestudies import images

# A picture opened on its own is a document: it may run, load and embed nothing.
MEDIA_POLICY = {"default-src": [NONE], "sandbox": True}


@csp(MEDIA_POLICY)
@require_safe
def serve(request, name):
    if not images.RENDITION_NAME.fullmatch(name):
        raise Http404("Not an image's rendition.")
    try:
        file = default_storage.open(name)
    except FileNotFoundError:
        raise Http404("No such image.") from None
    # Named by its content: the name is the version.
    etag = quote_etag(PurePosixPath(name).name)
    response = FileResponse(
        file,
        content_type=images.CONTENT_TYPES[images.suffix(name)],
        headers={
            "Cache-Control": settings.MEDIA_CACHE_CONTROL,
            "ETag": etag,
            "X-Content-Type-Options": "nosniff",
        },
    )
    answer = get_conditional_response(request, etag=etag, response=response)
    if answer is not response:
        response.close()
    return answer


class S3MediaStorage(S3Storage):
    """django-storages' S3 storage, each object stored with its content type.

    The type from the extension, as `serve` sends it: Python's own table may not know AVIF
    or WebP, and a bucket sends what it was given (application/octet-stream by default).
    """

    def get_object_parameters(self, name):
        parameters = super().get_object_parameters(name)
        content_type = images.CONTENT_TYPES.get(images.suffix(name))
        if content_type:
            parameters.setdefault("ContentType", content_type)
        return parameters
