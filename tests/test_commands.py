import datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from casestudies.models import CaseStudy
from tests.factories import CaseStudyFactory

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
        ("no front matter\n", "does not start with a '---'"),
        ("---\ntitle: [unclosed\n---\nbody\n", "not valid YAML"),
        ("---\ntitle: x\n", "no closing '---'"),
        ("---\nslug: x\nsummary: s\npublished_at: 2024-01-01\n---\n", "missing title"),
        ("---\n- a list\n---\n", "not a set of 'name: value' lines"),
        (study_text("bad", extra="colour: blue\n"), "unknown field(s): colour"),
        (study_text("Bad Slug"), "slug:"),
        (study_text("ok", extra="live_url: javascript:alert(1)\n"), "live_url:"),
        (study_text("ok").replace("published_at: 2024-01-01T00:00:00Z", "published_at: soon"), "not a date"),
        (study_text("ok").replace("tags: [Security]", "tags: Security"), "tags must be a list"),
    ],
)
def test_a_bad_file_is_reported_by_name_and_the_others_still_load(tmp_path, text, problem):
    write(tmp_path, "0-bad.md", text)
    write(tmp_path, "1-good.md", study_text("good"))
    with pytest.raises(CommandError, match="1 file"):
        call_command("import_studies", str(tmp_path), stdout=StringIO(), stderr=(err := StringIO()))
    assert err.getvalue().startswith("0-bad.md: ")
    assert problem in err.getvalue()
    assert list(CaseStudy.objects.values_list("slug", flat=True)) == ["good"]


def test_a_duplicate_slug_is_reported_and_the_first_file_wins(tmp_path):
    write(tmp_path, "a.md", study_text("same", title="First"))
    write(tmp_path, "b.md", study_text("same", title="Second"))
    with pytest.raises(CommandError):
        call_command("import_studies", str(tmp_path), stdout=StringIO(), stderr=(err := StringIO()))
    assert "b.md: slug 'same' is already used by a.md" in err.getvalue()
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
