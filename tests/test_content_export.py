"""The export as a whole site: old addresses, tags as spelled, the site profile; and the import's
checks (the admin's), each problem at its file's line, and single files."""

import io

import pytest
from django.core.management import CommandError, call_command

from casestudies import diagrams
from casestudies.models import CaseStudy, SlugRedirect, Tag
from siteprofile.models import SiteProfile, SocialLink
from tests.factories import CaseStudyFactory, image_bytes
from tests.test_studyfiles import files, run, run_failing, study_text

pytestmark = pytest.mark.django_db


@pytest.fixture
def whole_site():
    """A study renamed twice, a tag spelled with capitals and a slug of its own, a tag no study
    has, and a site profile with links and an About page."""
    study = CaseStudyFactory(slug="securevault", title="SecureVault", tags=["PostgreSQL", "Security"])
    for slug in ("vault", "the-vault"):
        study.slug = slug
        study.save()
    Tag.objects.filter(name="PostgreSQL").update(slug="postgres")
    Tag.objects.create(name="WebAssembly", slug="wasm")
    CaseStudyFactory(slug="plain", tags=["security"])
    profile = SiteProfile.objects.get()
    profile.site_title = "Ada's Notebook"
    profile.author_name = "Ada Lovelace"
    profile.contact_email = "ada@example.com"
    profile.about = "## Who I am\n\nAn engineer who writes things down.\n\n    indented code  \n"
    profile.save()
    SocialLink.objects.create(profile=profile, label="GitHub", url="https://github.com/ada", position=5)
    SocialLink.objects.create(
        profile=profile, label="Mastodon", url="https://example.social/@ada", position=9
    )


def an_empty_database():
    """What `migrate` leaves: no studies, tags or old addresses, the profile as the migration made it."""
    CaseStudy.objects.all().delete()
    Tag.objects.all().delete()
    SiteProfile.objects.all().delete()
    SiteProfile(id=1).save()


def test_the_export_holds_old_slugs_tags_and_the_site_profile(tmp_path, whole_site):
    run("export_studies", str(tmp_path))
    assert "old_slugs: [securevault, vault]\n" in (tmp_path / "the-vault.md").read_text()
    assert (tmp_path / "tags.yaml").read_text() == (
        "- {name: PostgreSQL, slug: postgres}\n"
        "- {name: Security, slug: security}\n"
        "- {name: WebAssembly, slug: wasm}\n"
    )
    assert (tmp_path / "site.yaml").read_text() == (
        "site_title: Ada's Notebook\n"
        "author_name: Ada Lovelace\n"
        "tagline: Deep dives into production systems, architecture decisions, and technical challenges.\n"
        "contact_email: ada@example.com\n"
        "links:\n"
        "  - label: GitHub\n"
        "    url: https://github.com/ada\n"
        "  - label: Mastodon\n"
        "    url: https://example.social/@ada\n"
        f'intro: "{SiteProfile.objects.get().intro}"\n'
        "about: |\n"
        "  ## Who I am\n"
        "\n"
        "  An engineer who writes things down.\n"
        "\n"
        "      indented code  \n"
    )


def test_an_export_restores_the_whole_site_into_an_empty_database(tmp_path, whole_site, client):
    run("export_studies", str(tmp_path / "a"))
    an_empty_database()

    out, _ = run("import_studies", str(tmp_path / "a"))

    assert "2 created, 0 updated, 0 unchanged, 0 failed" in out
    assert "updated: site.yaml (site_title, author_name, contact_email, about, links)" in out
    # Old addresses lead to the study again.
    for old_slug in ("securevault", "vault"):
        response = client.get(f"/case-studies/{old_slug}/")
        assert response.status_code == 301
        assert response["Location"] == "/case-studies/the-vault/"
    assert client.get("/case-studies/the-vault/").status_code == 200
    # Tags as spelled, with their own slugs; the one no study has is back too.
    assert sorted(Tag.objects.values_list("name", "slug")) == [
        ("PostgreSQL", "postgres"),
        ("Security", "security"),
        ("WebAssembly", "wasm"),
    ]
    assert client.get("/case-studies/?tag=postgres").status_code == 200
    profile = SiteProfile.load()
    assert (profile.site_title, profile.author_name, profile.contact_email) == (
        "Ada's Notebook",
        "Ada Lovelace",
        "ada@example.com",
    )
    assert profile.about.endswith("    indented code  \n")
    assert [(link.label, link.url, link.position) for link in profile.link_list] == [
        ("GitHub", "https://github.com/ada", 0),
        ("Mastodon", "https://example.social/@ada", 1),
    ]
    assert "Ada&#x27;s Notebook" in client.get("/").content.decode()
    # And it is the same site: exported again, the same bytes.
    run("export_studies", str(tmp_path / "b"))
    assert files(tmp_path / "a") == files(tmp_path / "b")


def test_importing_an_unchanged_export_again_changes_nothing(tmp_path, whole_site):
    run("export_studies", str(tmp_path))
    profile_before = SiteProfile.objects.values_list("updated_at", flat=True).get()
    tags_before = list(Tag.objects.order_by("pk").values_list("pk", "name", "slug"))
    redirects_before = list(SlugRedirect.objects.order_by("pk").values_list("pk", "old_slug", "study"))

    out, err = run("import_studies", str(tmp_path))

    assert out == "0 created, 0 updated, 2 unchanged, 0 failed\n"
    assert err == ""
    assert SiteProfile.objects.values_list("updated_at", flat=True).get() == profile_before
    assert list(Tag.objects.order_by("pk").values_list("pk", "name", "slug")) == tags_before
    assert (
        list(SlugRedirect.objects.order_by("pk").values_list("pk", "old_slug", "study")) == redirects_before
    )


def test_import_adds_the_old_slugs_a_study_lacks_and_never_removes_one(tmp_path, client):
    study = CaseStudyFactory(slug="alpha")
    run("export_studies", str(tmp_path))
    SlugRedirect.objects.create(old_slug="kept", study=study)
    path = tmp_path / "alpha.md"
    path.write_text(path.read_text().replace("slug: alpha\n", "slug: alpha\nold_slugs: [added]\n"))
    assert "would be updated: alpha.md (old_slugs)" in run("import_studies", str(tmp_path), "--dry-run")[0]
    assert not SlugRedirect.objects.filter(old_slug="added").exists()

    out, _ = run("import_studies", str(tmp_path))

    assert "updated: alpha.md (old_slugs)" in out
    assert sorted(study.slug_redirects.values_list("old_slug", flat=True)) == ["added", "kept"]
    assert client.get("/case-studies/added/")["Location"] == "/case-studies/alpha/"


def test_an_old_slug_another_study_has_refuses_the_file_at_its_line(tmp_path):
    other = CaseStudyFactory(slug="beta", title="Beta")
    SlugRedirect.objects.create(old_slug="gamma", study=other)
    (tmp_path / "alpha.md").write_text(study_text("alpha", extra="old_slugs: [beta, gamma]\n"))

    _, err, failure = run_failing("import_studies", str(tmp_path))

    assert err == (
        "alpha.md:8: old slug 'beta' is the slug of “Beta”, a study of its own\n"
        "alpha.md:8: old slug 'gamma' is an old slug of “Beta” already, and leads there\n"
    )
    assert "1 file(s) could not be imported" in failure
    assert not CaseStudy.objects.filter(slug="alpha").exists()


def test_two_files_claiming_one_old_slug_are_told_apart(tmp_path):
    (tmp_path / "a.md").write_text(study_text("alpha", extra="old_slugs: [shared]\n"))
    (tmp_path / "b.md").write_text(study_text("beta", extra="old_slugs: [shared, alpha]\n"))
    _, err, _ = run_failing("import_studies", str(tmp_path), "--dry-run")
    assert err == (
        "b.md:8: old slug 'alpha' is the slug of the study in a.md too\n"
        "b.md:8: old slug 'shared' is the old slug of the study in a.md too\n"
    )


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ("old_slugs: vault\n", "old_slugs must be a list"),
        ("old_slugs: [Not a slug]\n", "old slug 'Not a slug': old_slug: Enter a valid “slug”"),
        ("old_slugs: [ok]\n", "old slug 'ok' is the study's own slug"),
    ],
)
def test_a_bad_old_slug_says_what_is_wrong(tmp_path, extra, problem):
    (tmp_path / "ok.md").write_text(study_text("ok", extra=extra))
    _, err, _ = run_failing("import_studies", str(tmp_path))
    assert err.startswith(f"ok.md:8: {problem}")


# Every problem of a file, each at its line.

PROBLEMS = """\
---
title: A title
slug: many-problems
summary: A summary.
colour: blue
published_at: 2024-01-01T00:00:00Z
live_url: javascript:alert(1)
team_size: lots
outcomes:
  - label: Latency
    colour: red
  - before: "1"
images:
  - name: flow.png
---
Body.
"""


def test_every_problem_of_a_file_is_listed_at_its_own_line(tmp_path):
    (tmp_path / "x.md").write_text(PROBLEMS)
    _, err, _ = run_failing("import_studies", str(tmp_path))
    assert err.splitlines() == [
        "x.md:5: unknown field: colour",
        "x.md:7: live_url: Enter a valid URL. Enter an address starting with http:// or https://.",
        "x.md:8: team_size 'lots' is not a number of people, e.g. team_size: 4",
        "x.md:11: outcome 1: unknown field: colour",
        "x.md:12: outcome 2 has no label",
        "x.md:14: image 'flow.png' has no alt text, e.g. alt: What the picture shows",
        # Read even so: its file is missing as well.
        "x.md:14: image x/flow.png is missing: the front matter lists 'flow.png'",
    ]


def test_a_yaml_mistake_is_at_its_line_in_the_file(tmp_path):
    (tmp_path / "x.md").write_text(study_text("x", extra="stack: [Django, Redis\nrole: Lead\n"))
    _, err, _ = run_failing("import_studies", str(tmp_path))
    assert err == (
        "x.md:9: its front matter is not valid YAML: expected ',' or ']', but got ':' "
        "(while parsing a flow sequence, line 8)\n"
    )


def test_a_file_that_is_not_utf8_says_on_which_line(tmp_path):
    (tmp_path / "x.md").write_bytes(study_text("x").encode() + b"caf\xe9\n")
    _, err, _ = run_failing("import_studies", str(tmp_path))
    assert err == "x.md:10: it is not UTF-8 text: byte 0xe9 cannot start or continue a character\n"


# The admin's checks: what it only warns about is a warning, and the study is imported.

WARNED = """\
---
title: Warned
slug: warned
summary: {summary}
status: published
published_at: 2024-01-01T00:00:00Z
---
## Context

#### Too deep a heading

See [the other study](/case-studies/nowhere/) and <img src="/static/favicon.ico">.

```dot
digraph {{ a -> b }}
```
"""


def test_the_admins_warnings_are_listed_at_their_lines_and_the_study_is_imported(tmp_path, monkeypatch):
    monkeypatch.setattr(diagrams, "DOT_BINARY", str(tmp_path / "no-such-dot"))
    (tmp_path / "warned.md").write_text(WARNED.format(summary="A long summary, " * 12))

    out, err = run("import_studies", str(tmp_path))

    assert out.splitlines() == [
        "created: warned.md",
        "1 created, 0 updated, 0 unchanged, 0 failed, 5 warning(s)",
    ]
    assert err.splitlines() == [
        "warned.md:4: warning: The summary is 191 characters; search engines show about 160, so the end "
        "will be cut off in results.",
        "warned.md:10: warning: The heading “Too deep a heading” is level 4 right after level 2: use ### so "
        "screen readers and the contents list follow.",
        "warned.md:12: warning: The image /static/favicon.ico has no alt text: describe it for readers who "
        "cannot see it.",
        "warned.md:12: warning: The link to /case-studies/nowhere/ leads nowhere: no study has that slug.",
        "warned.md:14: warning: Diagram 1 could not be drawn: Graphviz (the `dot` program) is not installed "
        "on the server.",
    ]
    assert CaseStudy.objects.filter(slug="warned").exists()


def test_unchanged_files_are_not_checked_again(tmp_path):
    (tmp_path / "warned.md").write_text(
        study_text("warned", extra="").replace("Body of", "[x](/case-studies/no/)")
    )
    assert run("import_studies", str(tmp_path))[1]
    assert run("import_studies", str(tmp_path))[1] == ""


def test_a_link_to_a_study_another_file_brings_is_not_a_dead_link(tmp_path):
    (tmp_path / "a.md").write_text(
        study_text("alpha").replace("Body of alpha.", "[Beta](/case-studies/beta/)")
    )
    (tmp_path / "b.md").write_text(study_text("beta", extra="old_slugs: [old-beta]\n"))
    (tmp_path / "c.md").write_text(
        study_text("gamma").replace("Body of gamma.", "[Beta](/case-studies/old-beta/)")
    )
    for dry_run in (["--dry-run"], []):
        out, err = run("import_studies", str(tmp_path), *dry_run)
        assert err == ""
        assert "3 created" in out


def test_a_figure_the_file_lists_is_not_reported_missing(tmp_path):
    (tmp_path / "alpha.md").write_text(
        study_text("alpha", extra="images:\n  - {name: flow.png, alt: The flow}\n").replace(
            "Body of alpha.", "![The flow](flow.png)"
        )
    )
    (tmp_path / "alpha").mkdir()
    (tmp_path / "alpha" / "flow.png").write_bytes(image_bytes(64, 48))
    for dry_run in (["--dry-run"], []):
        _, err = run("import_studies", str(tmp_path), *dry_run)
        assert err == ""
    assert "<picture>" in CaseStudy.objects.get(slug="alpha").body_html


def test_the_admin_refuses_what_the_import_refuses_a_body_too_deep(tmp_path):
    (tmp_path / "deep.md").write_text(study_text("deep").replace("Body of deep.", ">" * 30 + " quoted"))
    _, err, _ = run_failing("import_studies", str(tmp_path))
    assert err.startswith("deep.md:9: body: ")


# Single files.


def test_a_single_study_file_is_imported_with_its_images_beside_it(tmp_path):
    (tmp_path / "alpha.md").write_text(
        study_text("alpha", extra="images:\n  - {name: flow.png, alt: The flow}\n")
    )
    (tmp_path / "alpha").mkdir()
    (tmp_path / "alpha" / "flow.png").write_bytes(image_bytes(64, 48))
    (tmp_path / "beta.md").write_text(study_text("beta"))

    out, _ = run("import_studies", str(tmp_path / "alpha.md"))

    assert f"created: {tmp_path / 'alpha.md'}" in out
    assert list(CaseStudy.objects.values_list("slug", flat=True)) == ["alpha"]
    assert CaseStudy.objects.get().images.get().name == "flow.png"


def test_a_single_file_names_itself_as_given_in_its_problems(tmp_path):
    (tmp_path / "x.md").write_text(study_text("x", extra="team_size: lots\n"))
    _, err, _ = run_failing("import_studies", str(tmp_path / "x.md"))
    assert err.startswith(f"{tmp_path / 'x.md'}:8: team_size 'lots'")


def test_a_single_site_or_tags_file_is_imported(tmp_path):
    (tmp_path / "site.yaml").write_text("site_title: Mine\ntagline: Things I built.\n")
    (tmp_path / "tags.yaml").write_text("- {name: PostgreSQL, slug: postgres}\n")
    run("import_studies", str(tmp_path / "site.yaml"))
    run("import_studies", str(tmp_path / "tags.yaml"))
    assert (SiteProfile.load().site_title, SiteProfile.load().about) == ("Mine", "")
    assert list(Tag.objects.values_list("name", "slug")) == [("PostgreSQL", "postgres")]


@pytest.mark.parametrize(
    ("name", "message"),
    [("notes.txt", "is not a file import_studies reads"), ("missing.md", "is not a directory or a file")],
)
def test_a_path_that_is_not_a_study_file_is_a_clear_error(tmp_path, name, message):
    (tmp_path / "notes.txt").write_text("notes")
    with pytest.raises(CommandError, match=message):
        call_command("import_studies", str(tmp_path / name), stdout=io.StringIO())


# tags.yaml and site.yaml refused, with their lines.


def test_a_tag_whose_slug_another_tag_has_refuses_tags_yaml_at_its_line(tmp_path):
    Tag.objects.create(name="Postgres", slug="postgres")
    (tmp_path / "tags.yaml").write_text(
        "- {name: Security, slug: security}\n- {name: PostgreSQL, slug: postgres}\n- {name: x, colour: red}\n"
    )
    _, err, failure = run_failing("import_studies", str(tmp_path))
    assert err.splitlines() == [
        "tags.yaml:3: unknown field: colour",
    ]
    (tmp_path / "tags.yaml").write_text(
        "- {name: Security, slug: security}\n- {name: PostgreSQL, slug: postgres}\n"
    )
    _, err, failure = run_failing("import_studies", str(tmp_path))
    assert err.splitlines() == ["tags.yaml:2: tag 'PostgreSQL': slug: Tag with this Slug already exists."]
    assert "1 file(s) could not be imported" in failure
    assert list(Tag.objects.values_list("name", flat=True)) == ["Postgres"]


def test_a_tag_spelled_otherwise_in_the_database_takes_the_files_spelling(tmp_path):
    Tag.objects.create(name="Postgresql", slug="postgresql")
    (tmp_path / "tags.yaml").write_text("- {name: PostgreSQL, slug: postgresql}\n")
    out, _ = run("import_studies", str(tmp_path))
    assert "updated: tags.yaml (changed: PostgreSQL)" in out
    assert list(Tag.objects.values_list("name", flat=True)) == ["PostgreSQL"]


def test_a_bad_site_yaml_lists_every_problem_at_its_line(tmp_path):
    (tmp_path / "site.yaml").write_text(
        "site_title: Mine\ntagline: Things.\ncontact_email: not an address\nlinks:\n"
        "  - label: Home\n    url: javascript:alert(1)\ncolour: blue\n"
    )
    _, err, _ = run_failing("import_studies", str(tmp_path))
    assert err.splitlines() == [
        "site.yaml:3: contact_email: Enter a valid email address.",
        "site.yaml:6: link 1: url: Enter a valid URL. Enter an address starting with http:// or https://.",
        "site.yaml:7: unknown field: colour",
    ]
    assert SiteProfile.load().site_title == "Engineering Portfolio"


# render_studies.


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize(("stdout", "bar"), [(Terminal, True), (io.StringIO, False)])
def test_render_studies_shows_progress_in_a_terminal_and_keeps_its_summary(capsys, stdout, bar):
    for _ in range(21):
        CaseStudyFactory()
    out = stdout()
    call_command("render_studies", stdout=out, stderr=io.StringIO())
    err = capsys.readouterr().err
    assert ("Rendering" in err and "/21 [" in err) is bar
    assert out.getvalue().endswith("Rendered 21 case studies; 0 changed.\n")
