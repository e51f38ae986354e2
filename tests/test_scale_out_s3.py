"""Scale-out with images: two gunicorn instances share one PostgreSQL, one Redis and one S3 bucket.

The bucket is moto's S3 server on loopback, holding what a real bucket would: an
image uploaded through instance A is shown on a study page served by instance B,
whose image URLs lead to the bucket itself, not to either instance, and return the
bytes A made. Each instance has a media folder of its own, which stays empty.
"""

import hashlib
import json
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from tests import test_scale_out
from tests.conftest import require_service
from tests.factories import image_bytes
from tests.test_logging import run_site
from tests.test_scale_out import warm
from tests.test_security import csp
from tests.test_serving import (
    BASE_DIR,
    collect_static,
    fetch,
    site_env,
)

pytestmark = pytest.mark.served

# The same PostgreSQL database (one of this module's own) and Redis as the scale-out test's.
database_url = test_scale_out.database_url
redis_url = test_scale_out.redis_url

BUCKET = "portfolio-media"
CREDENTIALS = {"DJANGO_S3_ACCESS_KEY_ID": "testing", "DJANGO_S3_SECRET_ACCESS_KEY": "testing"}
# Anyone may read a rendition; nobody but the site reads a master (`images/<digest>.<ext>`, no hyphen).
PUBLIC_RENDITIONS = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": [f"arn:aws:s3:::{BUCKET}/images/*-*.avif", f"arn:aws:s3:::{BUCKET}/images/*-*.webp"],
        }
    ],
}
# Run in instance A's settings: the upload path the admin takes (accept, show, save).
UPLOAD = """
import hashlib, json, pathlib
from casestudies import images
from casestudies.models import CaseStudy, StudyImage
master = images.accept(pathlib.Path({path!r}).read_bytes(), "cover.png")
made = images.make_renditions(master)
image = StudyImage(study=CaseStudy.objects.get(slug="securevault"), name="cover.png", alt="Vault door",
                   is_cover=True)
image.show(master)
image.save()
print(json.dumps({{name: hashlib.sha256(data).hexdigest() for name, data in made.items()}}))
"""


@pytest.fixture
def s3_server():
    """The base URL of an S3 server on loopback with an empty bucket whose renditions are public."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as error:
        require_service(False, f"moto's S3 server is not installed ({error}): make install-dev")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    try:
        server.start()
    except Exception as error:
        require_service(False, f"moto's S3 server did not start: {error}")
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        client = s3_client(endpoint)
        client.create_bucket(Bucket=BUCKET)
        client.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(PUBLIC_RENDITIONS))
        yield endpoint
    finally:
        server.stop()


def s3_client(endpoint):
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=CREDENTIALS["DJANGO_S3_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["DJANGO_S3_SECRET_ACCESS_KEY"],
    )


def manage_output(env, *args):
    """The last line manage.py prints."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def media_files(env):
    folder = Path(env["DJANGO_VAR_DIR"]) / "media"
    return [path for path in folder.rglob("*") if path.is_file()]


def test_an_image_uploaded_through_one_instance_is_shown_by_the_other_from_the_bucket(
    tmp_path, s3_server, database_url, redis_url
):
    media_url = f"{s3_server}/{BUCKET}/"
    shared = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DJANGO_SECRET_KEY": f"scale-out-{uuid.uuid4().hex}{uuid.uuid4().hex}",
        "DJANGO_S3_BUCKET": BUCKET,
        "DJANGO_S3_ENDPOINT_URL": s3_server,
        "DJANGO_S3_REGION": "us-east-1",
        "DJANGO_MEDIA_URL": media_url,
        **CREDENTIALS,
    }
    env_a = site_env(tmp_path / "a", **shared)
    env_b = site_env(tmp_path / "b", **shared)
    collect_static(env_a)
    with run_site(env_a) as a, run_site(env_b) as b:
        warm(b, "/case-studies/securevault/")

        picture = tmp_path / "cover.png"
        picture.write_bytes(image_bytes(640, 400))
        made = json.loads(manage_output(env_a, "shell", "-c", UPLOAD.format(path=str(picture))))
        assert len(made) == 4  # 480 and 640 pixels wide, AVIF and WebP

        status, headers, body = fetch(b.url + "/case-studies/securevault/")
        assert status == 200
        cover = BeautifulSoup(body, "html.parser").select_one(".study-cover picture")
        assert cover is not None, "B does not show the cover uploaded through A"
        urls = [cover.img["src"]] + [
            candidate.split()[0]
            for source in cover.find_all("source")
            for candidate in source["srcset"].split(",")
        ]
        assert all(url.startswith(media_url) for url in urls), urls
        assert {url.removeprefix(media_url) for url in urls} == set(made)
        for url in urls:
            status, file_headers, data = fetch(url)
            assert status == 200, url
            assert hashlib.sha256(data).hexdigest() == made[url.removeprefix(media_url)], url
            assert file_headers["Content-Type"] == f"image/{url.rsplit('.', 1)[1]}"
            assert file_headers["Cache-Control"] == "public, max-age=31536000, immutable"

        # B's pages may load images from the bucket's origin, and from nowhere else.
        policy = csp({"Content-Security-Policy": headers["Content-Security-Policy"]})
        assert policy["img-src"] == ["'self'", s3_server]

        # The master is in the bucket, for the site only.
        listing = s3_client(s3_server).list_objects_v2(Bucket=BUCKET)["Contents"]
        master = next(item["Key"] for item in listing if not re.search(r"-\d+\.", item["Key"]))
        assert fetch(media_url + master)[0] == 403
        # Neither instance sends images itself, nor keeps any.
        assert fetch(b.url + "/media/" + next(iter(made)))[0] == 404
        assert media_files(env_a) == media_files(env_b) == []

    for site in (a, b):
        assert not [line for line in site.log_lines() if line["level"] == "ERROR"], site.url
