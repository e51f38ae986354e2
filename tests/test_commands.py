import datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from casestudies.models import CaseStudy, StudyImage
from tests.factories import CaseStudyFactory, add_image, image_bytes

pytestmark = pytest.mark.django_db

SEED = {
    "SecureVault: A Zero-Knowledge Password Manager Design Exercise": (
        "2024-11-20",
        ["Security", "Encryption", "Zero-Knowledge"],
    ),
    "ShopFlow: A Headless E-Commerce Reference Architecture": (
        "2024-09-15",
        ["E-Commerce", "Headless", "Performance"],
    ),
    "MediConnect: A HIPAA-Conscious Healthcare Platform Reference Architecture": (
        "2024-07-10",
        ["Healthcare", "HIPAA", "Security"],
    ),
    "FinanceAI: A Low-Latency Trading Platform Design Exercise": (
        "2024-05-20",
        ["Machine Learning", "FinTech", "Real-Time"],
    ),
    "CloudSync: A Real-Time Collaboration Reference Architecture": (
        "2024-03-15",
        ["WebSockets", "Real-Time", "Scalability"],
    ),
    "PulseForge Platform": ("2024-02-01", ["Full-Stack", "SaaS", "Fitness"]),
    "Northstar Platform": ("2024-01-01", ["Backend", "NestJS", "TypeScript"]),
}


def run(*args):
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def write(directory, name, text):
    (directory / name).write_text(text, encoding="utf-8")


def study_text(slug, title="A title", extra=""):
    return (
        f"---\ntitle: {title}\nslug: {slug}\nsummary: A summary.\ntags: [Security]\n"
        f"status: published\npublished_at: 2024-01-01T00:00:00Z\n{extra}---\nBody of {slug}.\n"
    )


def test_seed_loads_the_seven_studies_exactly():
    run("import_studies")
    studies = CaseStudy.objects.published().with_tags()
    assert [study.title for study in studies] == list(SEED)
    for study in studies:
        date, tags = SEED[study.title]
        assert study.published_at == datetime.datetime.fromisoformat(date).replace(tzinfo=datetime.UTC)
        assert [tag.name for tag in study.tag_list] == tags
        assert study.body_html


def test_seed_summaries_are_the_seed_pages_words():
    run("import_studies")
    assert CaseStudy.objects.get(slug="securevault").summary == (
        "A systems-design exercise in zero-knowledge architecture — what it takes for a server to store "
        "secrets it can never read, with the threat model written before the data model."
    )
    assert CaseStudy.objects.get(slug="northstar").summary.endswith("The code is public.")


def test_seed_tag_filter_finds_the_two_security_studies(client):
    run("import_studies")
    html = client.get("/case-studies/?tag=security").content.decode()
    assert html.count('class="card"') == 2
    assert "SecureVault" in html
    assert "MediConnect" in html


def test_importing_twice_creates_no_duplicates_and_changes_nothing():
    run("import_studies")
    before = list(CaseStudy.objects.values_list("pk", "updated_at", "body_html"))
    out, _ = run("import_studies")
    assert "0 created, 0 updated, 7 unchanged, 0 failed" in out
    assert list(CaseStudy.objects.values_list("pk", "updated_at", "body_html")) == before


def test_if_empty_leaves_an_existing_site_alone():
    CaseStudyFactory(title="The author's own")
    out, _ = run("import_studies", "--if-empty")
    assert "nothing imported" in out
    assert CaseStudy.objects.count() == 1


def test_import_updates_a_changed_study_by_slug(tmp_path):
    write(tmp_path, "a.md", study_text("alpha", title="First title"))
    run("import_studies", str(tmp_path))
    write(tmp_path, "a.md", study_text("alpha", title="Second title"))
    out, _ = run("import_studies", str(tmp_path))
    assert "updated: a.md" in out
    assert CaseStudy.objects.get(slug="alpha").title == "Second title"


def test_dry_run_changes_nothing(tmp_path):
    write(tmp_path, "a.md", study_text("alpha"))
    out, _ = run("import_studies", str(tmp_path), "--dry-run")
    assert "would be created: a.md" in out
    assert not CaseStudy.objects.exists()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("no front matter\n", ":1: it does not start with a '---'"),
        (
            "---\ntitle: [unclosed\n---\nbody\n",
            ":3: its front matter is not valid YAML: expected ',' or ']', but got '<stream end>' "
            "(while parsing a flow sequence, line 2)",
        ),
        ("---\ntitle: x\n", ":1: its front matter has no closing '---'"),
        ("---\nslug: x\nsummary: s\npublished_at: 2024-01-01\n---\n", ":1: missing title"),
        ("---\n- a list\n---\n", ":2: its front matter is not a set of 'name: value' lines"),
        (study_text("bad", extra="colour: blue\n"), ":8: unknown field: colour"),
        (study_text("Bad Slug"), ":3: slug:"),
        (study_text("ok", extra="live_url: javascript:alert(1)\n"), ":8: live_url:"),
        (
            study_text("ok").replace("published_at: 2024-01-01T00:00:00Z", "published_at: soon"),
            ":7: published_at 'soon' is not a date",
        ),
        (study_text("ok").replace("tags: [Security]", "tags: Security"), ":5: tags must be a list"),
    ],
)
def test_a_bad_file_is_reported_by_name_and_line_and_the_others_still_load(tmp_path, text, problem):
    write(tmp_path, "0-bad.md", text)
    write(tmp_path, "1-good.md", study_text("good"))
    with pytest.raises(CommandError, match="1 file"):
        call_command("import_studies", str(tmp_path), stdout=StringIO(), stderr=(err := StringIO()))
    assert err.getvalue().startswith(f"0-bad.md{problem}")
    assert list(CaseStudy.objects.values_list("slug", flat=True)) == ["good"]


def test_a_duplicate_slug_is_reported_and_the_first_file_wins(tmp_path):
    write(tmp_path, "a.md", study_text("same", title="First"))
    write(tmp_path, "b.md", study_text("same", title="Second"))
    with pytest.raises(CommandError):
        call_command("import_studies", str(tmp_path), stdout=StringIO(), stderr=(err := StringIO()))
    assert "b.md:3: slug 'same' is already used by a.md" in err.getvalue()
    assert CaseStudy.objects.get().title == "First"


def test_importing_a_missing_directory_says_so(tmp_path):
    with pytest.raises(CommandError, match="is not a directory"):
        run("import_studies", str(tmp_path / "nope"))


def test_render_studies_rerenders_every_body_without_touching_updated_at():
    study = CaseStudyFactory(body="## Heading")
    CaseStudy.objects.filter(pk=study.pk).update(body_html="stale")
    before = CaseStudy.objects.get(pk=study.pk).updated_at
    out, _ = run("render_studies")
    assert "Rendered 1 case studies; 1 changed." in out
    study.refresh_from_db()
    assert '<h2 id="heading">' in study.body_html
    assert study.updated_at == before


IMAGES = (
    "images:\n  - {name: cover.jpg, alt: The cover, cover: true}\n  - {name: flow.png, alt: The data flow}\n"
)


def write_illustrated(directory, slug, cover=None, flow=None):
    """A study file listing a cover and a figure, and their files in the folder beside it."""
    write(directory, f"{slug}.md", study_text(slug, extra=IMAGES))
    (directory / slug).mkdir()
    (directory / slug / "cover.jpg").write_bytes(cover or image_bytes(64, 48, "JPEG"))
    (directory / slug / "flow.png").write_bytes(flow or image_bytes(64, 48))


def import_failing(directory):
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError, match="1 file"):
        call_command("import_studies", str(directory), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_a_study_files_images_are_imported_from_the_folder_beside_it(tmp_path):
    write_illustrated(tmp_path, "alpha")
    out, _ = run("import_studies", str(tmp_path))
    assert "created: alpha.md" in out
    study = CaseStudy.objects.get(slug="alpha")
    assert list(study.images.values_list("name", "alt", "is_cover", "width", "height")) == [
        ("cover.jpg", "The cover", True, 64, 48),
        ("flow.png", "The data flow", False, 64, 48),
    ]
    assert study.cover.name == "cover.jpg"


PNG = image_bytes(64, 48)
TRUNCATED = PNG[: len(PNG) // 2]
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


@pytest.mark.parametrize(
    ("flow", "problem"),
    [
        (SVG, "“flow.png” is an SVG drawing"),
        (b"<html><body>not a picture</body></html>", "“flow.png” carries HTML or script"),
        (TRUNCATED, "“flow.png” could not be read as an image (image file is truncated)"),
        (b"GIF89a but not really", "“flow.png” is not an image this site accepts"),
    ],
)
def test_a_refused_image_names_the_study_file_and_the_image_and_the_others_still_import(
    tmp_path, flow, problem
):
    write_illustrated(tmp_path, "bad", flow=flow)
    write_illustrated(tmp_path, "good")
    out, err = import_failing(tmp_path)
    # The line of the image's entry in the front matter.
    assert err.startswith("bad.md:10: image bad/flow.png: ")
    assert problem in err
    assert "1 created, 0 updated, 0 unchanged, 1 failed" in out
    assert list(CaseStudy.objects.values_list("slug", flat=True)) == ["good"]
    assert StudyImage.objects.filter(study__slug="good").count() == 2


def test_a_refused_image_leaves_the_stored_study_as_it_was(tmp_path):
    study = CaseStudyFactory(slug="alpha", title="Before")
    add_image(study, "flow.png", width=64, height=48, alt="Before")
    write_illustrated(tmp_path, "alpha", flow=SVG)
    import_failing(tmp_path)
    study.refresh_from_db()
    assert study.title == "Before"
    assert list(study.images.values_list("name", "alt")) == [("flow.png", "Before")]


def test_a_front_matter_name_that_tries_a_path_is_refused(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd.png").write_bytes(image_bytes(64, 48))
    write(
        tmp_path,
        "alpha.md",
        study_text("alpha", extra="images:\n  - name: ../etc/passwd.png\n    alt: A secret\n"),
    )
    write(tmp_path, "good.md", study_text("good"))
    _, err = import_failing(tmp_path)
    assert err.startswith("alpha.md:9: image 1: The file name “../etc/passwd.png” names a folder")
    assert list(CaseStudy.objects.values_list("slug", flat=True)) == ["good"]
    assert not StudyImage.objects.exists()


def test_a_missing_image_file_is_named(tmp_path):
    write_illustrated(tmp_path, "alpha")
    (tmp_path / "alpha" / "flow.png").unlink()
    _, err = import_failing(tmp_path)
    assert err.startswith("alpha.md:10: image alpha/flow.png is missing: the front matter lists 'flow.png'")
    assert not CaseStudy.objects.exists()


def test_a_linked_image_file_or_folder_is_refused_not_followed(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "secret.png").write_bytes(image_bytes(64, 48))
    studies = tmp_path / "studies"
    studies.mkdir()
    write_illustrated(studies, "linked-file")
    (studies / "linked-file" / "flow.png").unlink()
    (studies / "linked-file" / "flow.png").symlink_to(elsewhere / "secret.png")
    write(studies, "linked-folder.md", study_text("linked-folder", extra=IMAGES))
    (studies / "linked-folder").symlink_to(elsewhere)

    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError) as failure:
        call_command("import_studies", str(studies), stdout=out, stderr=err)

    assert "2 file(s) could not be imported" in str(failure.value)
    assert "linked-file.md:10: image linked-file/flow.png is a symbolic link; only plain files are read" in (
        err.getvalue()
    )
    assert "linked-folder.md:8: the image folder linked-folder/ is a symbolic link" in err.getvalue()
    assert not CaseStudy.objects.exists()


def test_a_linked_study_file_is_refused_not_followed(tmp_path):
    (tmp_path / "elsewhere.txt").write_text(study_text("alpha"))
    studies = tmp_path / "studies"
    studies.mkdir()
    (studies / "alpha.md").symlink_to(tmp_path / "elsewhere.txt")
    write(studies, "good.md", study_text("good"))
    _, err = import_failing(studies)
    assert err.startswith("alpha.md: it is a symbolic link; only plain files are read")
    assert list(CaseStudy.objects.values_list("slug", flat=True)) == ["good"]


def test_an_image_over_the_size_limit_is_refused_before_it_is_read(tmp_path, settings):
    settings.MAX_IMAGE_MB = 1
    write_illustrated(tmp_path, "alpha", flow=b"\0" * (1024 * 1024 + 1))
    _, err = import_failing(tmp_path)
    assert err.startswith("alpha.md:10: image alpha/flow.png is 1.0 MB; images may be at most 1 MB")
