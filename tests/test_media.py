"""Uploaded images: sent by the site from its own files, or fetched from an S3 bucket's origin."""

import io

import pytest
from django.core.files.storage import default_storage
from django.test.client import encode_multipart
from PIL import Image

from casestudies import images
from casestudies.media import S3MediaStorage
from tests.factories import add_image, image_bytes
from tests.test_security import PRODUCTION, assert_strict_headers, csp
from tests.test_settings import load_settings

pytestmark = pytest.mark.django_db


@pytest.fixture
def figure(study):
    return add_image(study, "figure.png", width=600, height=400)


def rendition(image, image_format="webp"):
    url, _width = image.renditions(image_format)[0]
    return url


def test_a_rendition_is_sent_with_its_type_a_years_cache_and_a_sandbox(client, figure):
    for image_format, content_type in [("webp", "image/webp"), ("avif", "image/avif")]:
        url = rendition(figure, image_format)
        assert url.startswith("/media/images/")
        response = client.get(url)
        assert response.status_code == 200
        assert response.streaming
        body = b"".join(response.streaming_content)
        assert body == default_storage.open(url.removeprefix("/media/")).read()
        assert Image.open(io.BytesIO(body)).format == image_format.upper()
        assert response["Content-Type"] == content_type
        assert response["Content-Length"] == str(len(body))
        assert response["Cache-Control"] == "public, max-age=31536000, immutable"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
        assert response["Cross-Origin-Resource-Policy"] == "cross-origin"
        assert response["ETag"]


def test_a_rendition_touches_no_session(client, figure):
    response = client.get(rendition(figure))
    assert not response.cookies
    assert "Cookie" not in response.get("Vary", "")


def test_a_repeat_request_is_answered_not_modified(client, figure):
    url = rendition(figure)
    etag = client.get(url)["ETag"]
    response = client.get(url, HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 304
    assert response["ETag"] == etag
    assert response["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert client.get(url, HTTP_IF_NONE_MATCH='"another"').status_code == 200


def test_head_gives_the_headers_without_the_body(client, figure):
    response = client.head(rendition(figure))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/webp"
    assert int(response["Content-Length"]) > 0
    assert b"".join(response.streaming_content) == b""


def test_only_get_and_head_are_answered(client, figure):
    assert client.post(rendition(figure)).status_code == 405


def test_a_master_is_never_sent(client, figure):
    assert default_storage.exists(figure.master_name)
    response = client.get(f"/media/{figure.master_name}")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    # The site's own 404 page, under the page policy.
    assert_strict_headers(response)


@pytest.mark.parametrize(
    "path",
    [
        "/media/images/../images/{rendition}",
        "/media/images/%2e%2e/images/{rendition}",
        "/media/../media/{rendition}",
        "/media/images/{rendition}/",
        "/media/images//{rendition}",
        "/media/{rendition}",
        "/media/images/0123456789abcdef0123-480.webp",
        "/media/images/0123456789abcdef0123-480.png",
        "/media/images/{rendition}%0A",
        "/media/secret_key",
        "/media/",
    ],
)
def test_other_paths_are_not_found(client, figure, path):
    name = rendition(figure).rsplit("/", 1)[1]
    assert client.get(path.format(rendition=name)).status_code == 404


def test_a_missing_rendition_is_not_found(client, figure):
    url = rendition(figure)
    default_storage.delete(url.removeprefix("/media/"))
    assert client.get(url).status_code == 404


def test_the_page_cache_does_not_keep_an_image(client, figure, settings):
    settings.PAGE_CACHE_SECONDS = 600
    url = rendition(figure)
    assert client.get(url).status_code == 200
    default_storage.delete(url.removeprefix("/media/"))
    assert client.get(url).status_code == 404


def test_a_study_page_shows_its_images_from_the_media_url(client, study):
    add_image(study, "cover.png", width=600, height=400, is_cover=True)
    html = client.get(study.get_absolute_url()).content.decode()
    assert 'srcset="/media/images/' in html


# S3


def test_objects_go_to_the_bucket_with_their_type_and_a_years_cache():
    storage = S3MediaStorage(bucket_name="media", object_parameters={"CacheControl": "public, immutable"})
    for name, content_type in [
        ("images/0123456789abcdef0123-480.avif", "image/avif"),
        ("images/0123456789abcdef0123-480.webp", "image/webp"),
        ("images/0123456789abcdef0123.jpg", "image/jpeg"),
        ("images/0123456789abcdef0123.png", "image/png"),
    ]:
        assert storage._get_write_parameters(name) == {
            "CacheControl": "public, immutable",
            "ContentType": content_type,
        }


SHOW_MEDIA = (
    "import django; django.setup(); from django.conf import settings as s; "
    "from django.core.files.storage import default_storage as d; "
    "print(repr(dict(url=s.MEDIA_URL, img=s.CONTENT_SECURITY_POLICY['DIRECTIVES']['img-src'], "
    "backend=s.STORAGES['default']['BACKEND'], options=s.STORAGES['default'].get('OPTIONS'), "
    "file=d.url('images/0123456789abcdef0123-480.webp'))))"
)
S3 = {
    "DJANGO_S3_BUCKET": "portfolio-media",
    "DJANGO_S3_ENDPOINT_URL": "https://s3.eu-west-1.amazonaws.com",
    "DJANGO_S3_REGION": "eu-west-1",
    "DJANGO_S3_ACCESS_KEY_ID": "AKIAEXAMPLE",
    "DJANGO_S3_SECRET_ACCESS_KEY": "secret",
    "DJANGO_MEDIA_URL": "https://cdn.example.com:8443/portfolio",
}


def media_settings(tmp_path, **env):
    result = load_settings(tmp_path, code=SHOW_MEDIA, **env)
    assert result.returncode == 0, result.stderr
    return eval(result.stdout.strip().splitlines()[-1])  # noqa: S307 - our own repr of plain values


def test_without_a_bucket_images_are_files_the_site_sends(tmp_path):
    shown = media_settings(tmp_path)
    assert shown["url"] == "/media/"
    assert shown["img"] == ["'self'"]
    assert shown["backend"] == "django.core.files.storage.FileSystemStorage"
    assert shown["file"] == "/media/images/0123456789abcdef0123-480.webp"


def test_with_a_bucket_pages_point_at_the_media_url_and_may_load_images_from_its_origin_only(tmp_path):
    shown = media_settings(tmp_path, **S3)
    assert shown["url"] == "https://cdn.example.com:8443/portfolio/"
    assert shown["img"] == ["'self'", "https://cdn.example.com:8443"]
    assert shown["backend"] == "casestudies.media.S3MediaStorage"
    assert shown["file"] == "https://cdn.example.com:8443/portfolio/images/0123456789abcdef0123-480.webp"
    options = shown["options"]
    assert options["bucket_name"] == "portfolio-media"
    assert options["endpoint_url"] == "https://s3.eu-west-1.amazonaws.com"
    assert options["region_name"] == "eu-west-1"
    assert (options["access_key"], options["secret_key"]) == ("AKIAEXAMPLE", "secret")
    assert options["querystring_auth"] is False
    assert options["object_parameters"] == {"CacheControl": "public, max-age=31536000, immutable"}


def test_a_bucket_without_keys_leaves_credentials_to_boto3(tmp_path):
    shown = media_settings(
        tmp_path,
        DJANGO_S3_BUCKET="portfolio-media",
        DJANGO_MEDIA_URL="https://portfolio-media.s3.amazonaws.com",
    )
    assert shown["img"] == ["'self'", "https://portfolio-media.s3.amazonaws.com"]
    assert shown["file"] == "https://portfolio-media.s3.amazonaws.com/images/0123456789abcdef0123-480.webp"
    assert "access_key" not in shown["options"]
    assert "endpoint_url" not in shown["options"]


def test_a_page_lists_the_media_origin_in_its_policy(client, study, settings):
    settings.CONTENT_SECURITY_POLICY = {
        "DIRECTIVES": {
            **settings.CONTENT_SECURITY_POLICY["DIRECTIVES"],
            "img-src": ["'self'", "https://cdn.example.com"],
        }
    }
    assert csp(client.get(study.get_absolute_url()))["img-src"] == ["'self'", "https://cdn.example.com"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DJANGO_S3_BUCKET": "portfolio-media"}, "DJANGO_MEDIA_URL is not"),
        ({"DJANGO_MEDIA_URL": "https://cdn.example.com/"}, "DJANGO_S3_BUCKET is not"),
        ({"DJANGO_S3_ENDPOINT_URL": "http://127.0.0.1:9000"}, "DJANGO_S3_BUCKET is not"),
        ({**S3, "DJANGO_S3_SECRET_ACCESS_KEY": ""}, "both DJANGO_S3_ACCESS_KEY_ID and"),
        ({**S3, "DJANGO_S3_ACCESS_KEY_ID": ""}, "both DJANGO_S3_ACCESS_KEY_ID and"),
        ({**S3, "DJANGO_MEDIA_URL": "cdn.example.com"}, "DJANGO_MEDIA_URL must be an absolute"),
        ({**S3, "DJANGO_MEDIA_URL": "https://user:pw@cdn.example.com/"}, "DJANGO_MEDIA_URL must be"),
        ({**S3, "DJANGO_MEDIA_URL": "ftp://cdn.example.com/"}, "DJANGO_MEDIA_URL must be"),
        ({**S3, "DJANGO_S3_ENDPOINT_URL": "s3.example.com"}, "DJANGO_S3_ENDPOINT_URL must be"),
        (
            {**PRODUCTION, **S3, "DJANGO_MEDIA_URL": "http://cdn.example.com/"},
            "DJANGO_MEDIA_URL must be an absolute https URL",
        ),
    ],
)
def test_a_half_configured_bucket_is_a_clear_error(tmp_path, env, message):
    result = load_settings(tmp_path, **env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr


def test_production_takes_a_bucket_behind_https(tmp_path):
    shown = media_settings(tmp_path, **PRODUCTION, **S3)
    assert shown["img"] == ["'self'", "https://cdn.example.com:8443"]


# Upload sizes


def test_an_image_larger_than_djangos_memory_limits_reaches_the_form_whole(rf, settings):
    # DATA_UPLOAD_MAX_MEMORY_SIZE counts form fields, not files; past FILE_UPLOAD_MAX_MEMORY_SIZE a
    # file is spooled to disk. Neither refuses an image within MAX_IMAGE_MB.
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
    data = image_bytes(1600, 1200, "BMP")[: 3 * 1024 * 1024]
    assert len(data) > 4 * settings.FILE_UPLOAD_MAX_MEMORY_SIZE
    upload = io.BytesIO(data)
    upload.name = "big.png"
    request = rf.post(
        "/",
        encode_multipart("BoUnDaRy", {"upload": upload}),
        content_type="multipart/form-data; boundary=BoUnDaRy",
    )
    received = request.FILES["upload"]
    assert received.size == len(data) < images.max_bytes()
    assert hasattr(received, "temporary_file_path")
    assert received.read() == data
