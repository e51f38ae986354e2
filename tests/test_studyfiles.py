import datetime
import io
from pathlib import Path

import pytest
import yaml
from django.core.management import CommandError, call_command
from django.utils import timezone

from casestudies import images
from casestudies.management.commands.import_studies import SEED_DIR
from casestudies.models import CaseStudy, Outcome, StudyImage, Tag
from casestudies.studyfiles import StudyFileError, parse_study_file, scalar, study_to_text
from tests.factories import CaseStudyFactory, OutcomeFactory, add_image, draft, image_bytes, scheduled

pytestmark = pytest.mark.django_db


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def run_failing(*args):
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError) as failure:
        call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue(), str(failure.value)


def files(directory):
    """Every file and folder under `directory`, by relative path: a file's bytes, None for a folder."""
    directory = Path(directory)
    return {
        path.relative_to(directory).as_posix(): None if path.is_dir() else path.read_bytes()
        for path in sorted(directory.rglob("*"))
    }


def study_text(slug, extra="", title="A title"):
    return (
        f"---\ntitle: {title}\nslug: {slug}\nsummary: A summary.\ntags: [Security]\n"
        f"status: published\npublished_at: 2024-01-01T00:00:00Z\n{extra}---\nBody of {slug}.\n"
    )


def empty_the_database():
    CaseStudy.objects.all().delete()
    Tag.objects.all().delete()


@pytest.fixture
def varied_studies():
    """Studies with everything a file must carry, and the awkward cases."""
    full = CaseStudyFactory(
        title="Ünïcode: 日本語 and “quotes”",
        slug="unicode",
        summary="A summary: with a colon, a # hash and — an em dash.",
        body="Two trailing spaces  \nmake a line break.\n\n```python\nx = 1  \nprint(x)\n```\n",
        tags=["Zero-Knowledge", "Security", "café", "C, C++"],
        repository_url="https://example.com/repo",
        live_url="https://example.com",
        role="Lead engineer",
        timeframe="Q1–Q3 2024",
        team_size=4,
        stack="Django, PostgreSQL, Redis",
    )
    OutcomeFactory(study=full, label="p99 latency", before="480", after="95", unit="ms", position=10)
    OutcomeFactory(study=full, label="Deploys: per week", before="", after="yes", unit="", position=20)
    draft(title="A draft", tags=["Security"], team_size=0)
    scheduled(title="Still to come", tags=["Later", "security"])
    CaseStudyFactory(title="480", slug="480", summary="null", body="", tags=["2024", "yes"])


def test_a_study_is_written_as_front_matter_then_body():
    study = CaseStudyFactory(
        title="CloudSync: real time",
        slug="cloudsync",
        summary="Presence, sync and conflicts.",
        body="## Presence\n",
        tags=["WebSockets", "Real-Time"],
        published_at=datetime.datetime(2024, 3, 15, tzinfo=datetime.UTC),
        role="Architect",
        team_size=3,
    )
    OutcomeFactory(study=study, label="p99 latency", before="480", after="95", unit="ms")
    OutcomeFactory(study=study, label="Regions", before="", after="3", unit="")
    study = CaseStudy.objects.with_tags().prefetch_related("outcomes").get()
    assert study_to_text(study) == (
        "---\n"
        'title: "CloudSync: real time"\n'
        "slug: cloudsync\n"
        "summary: Presence, sync and conflicts.\n"
        "tags: [WebSockets, Real-Time]\n"
        "status: published\n"
        "published_at: 2024-03-15T00:00:00Z\n"
        "role: Architect\n"
        "team_size: 3\n"
        "outcomes:\n"
        "  - label: p99 latency\n"
        '    before: "480"\n'
        '    after: "95"\n'
        "    unit: ms\n"
        "  - label: Regions\n"
        '    after: "3"\n'
        "---\n"
        "## Presence\n"
    )


@pytest.mark.parametrize(
    "text",
    [
        "480",
        "0x1F",
        "1e3",
        "yes",
        "null",
        "~",
        "2024-01-01",
        "a: b",
        "a #b",
        "#b",
        "'single'",
        '"double"',
        "back\\slash",
        "  padded  ",
        "tab\there",
        "no\xa0break",
        "line\u2028separator",
        "- dash",
        "[x]",
        "{x}",
        "x, y",
        "@at",
        "`tick",
        "!bang",
        "&anchor",
        "*alias",
        "? question",
        "%percent",
        "日本語",
        "emoji 👩\u200d💻",
        "",
    ],
)
def test_every_text_reads_back_as_itself(text):
    assert yaml.safe_load(f"value: {scalar(text)}") == {"value": text}
    assert yaml.safe_load(f"[{scalar(text, in_list=True)}]") == [text]


def test_plain_text_stays_plain_for_a_human_reader():
    assert scalar("Northstar Platform") == "Northstar Platform"
    assert scalar("A backend — built end-to-end, tested.") == "A backend — built end-to-end, tested."
    assert scalar("CloudSync: A Reference") == '"CloudSync: A Reference"'
    assert scalar("no\xa0break") == '"no\\xA0break"'
    assert scalar("Machine Learning", in_list=True) == "Machine Learning"
    assert scalar("C, C++", in_list=True) == '"C, C++"'


def test_export_import_into_an_empty_database_export_again_is_byte_identical(tmp_path, varied_studies):
    run("export_studies", str(tmp_path / "a"))
    empty_the_database()

    out, _ = run("import_studies", str(tmp_path / "a"))
    assert "4 created, 0 updated, 0 unchanged, 0 failed" in out
    run("export_studies", str(tmp_path / "b"))

    assert files(tmp_path / "a") == files(tmp_path / "b")
    assert sorted(files(tmp_path / "a")) == [
        "480.md",
        "a-draft.md",
        "site.yaml",
        "still-to-come.md",
        "tags.yaml",
        "unicode.md",
    ]
    study = CaseStudy.objects.with_tags().get(slug="unicode")
    assert [tag.name for tag in study.tag_list] == ["Zero-Knowledge", "Security", "café", "C, C++"]
    assert (study.role, study.timeframe, study.team_size) == ("Lead engineer", "Q1–Q3 2024", 4)
    assert study.body.endswith("```python\nx = 1  \nprint(x)\n```\n")
    assert list(study.outcomes.values_list("label", "before", "after", "unit", "position")) == [
        ("p99 latency", "480", "95", "ms", 0),
        ("Deploys: per week", "", "yes", "", 1),
    ]
    assert CaseStudy.objects.get(slug="a-draft").status == CaseStudy.Status.DRAFT
    assert CaseStudy.objects.get(slug="a-draft").team_size == 0
    assert not CaseStudy.objects.get(slug="still-to-come").is_public


def test_published_at_keeps_its_microseconds(tmp_path):
    moment = datetime.datetime(2024, 6, 1, 12, 30, 15, 123456, tzinfo=datetime.UTC)
    CaseStudyFactory(slug="precise", published_at=moment)
    run("export_studies", str(tmp_path))
    assert "published_at: 2024-06-01T12:30:15.123456Z\n" in (tmp_path / "precise.md").read_text()
    empty_the_database()
    run("import_studies", str(tmp_path))
    assert CaseStudy.objects.get().published_at == moment


def test_the_seed_directory_is_exactly_the_study_files_of_an_export_of_the_seeded_database(tmp_path):
    run("import_studies")
    run("export_studies", str(tmp_path))
    # The seed is studies only: loading it never changes a site's profile.
    assert files(SEED_DIR) == {
        name: data for name, data in files(tmp_path).items() if name not in {"site.yaml", "tags.yaml"}
    }


def test_importing_an_unchanged_export_changes_nothing(tmp_path, varied_studies):
    run("export_studies", str(tmp_path))
    before = list(CaseStudy.objects.order_by("pk").values_list("pk", "updated_at", "body_html"))
    outcomes = list(Outcome.objects.order_by("pk").values_list("pk", "position"))

    out, _ = run("import_studies", str(tmp_path), "--verbosity", "2")

    assert "0 created, 0 updated, 4 unchanged, 0 failed" in out
    assert "unchanged: unicode.md" in out
    assert list(CaseStudy.objects.order_by("pk").values_list("pk", "updated_at", "body_html")) == before
    # The admin's positions (10, 20) are kept: the file only says their order.
    assert list(Outcome.objects.order_by("pk").values_list("pk", "position")) == outcomes


def test_a_body_saved_without_its_final_newline_still_compares_unchanged(tmp_path):
    study = CaseStudyFactory(slug="admin-saved", body="## Heading")
    run("export_studies", str(tmp_path))
    out, _ = run("import_studies", str(tmp_path))
    assert "1 unchanged" in out
    study.refresh_from_db()
    assert study.body == "## Heading"


def test_exporting_again_rewrites_only_what_changed(tmp_path, varied_studies):
    run("export_studies", str(tmp_path))
    CaseStudy.objects.filter(slug="480").update(title="Four hundred and eighty")

    out, _ = run("export_studies", str(tmp_path))

    assert out.splitlines() == [
        "updated: 480.md",
        "1 written (0 created, 1 updated), 3 unchanged, 4 in total",
    ]
    assert "title: Four hundred and eighty\n" in (tmp_path / "480.md").read_text()


def test_export_names_files_it_did_not_write_and_leaves_them(tmp_path):
    CaseStudyFactory(slug="kept")
    (tmp_path / "2023-01-01-gone.md").write_text("an old file\n")
    out, _ = run("export_studies", str(tmp_path))
    assert "Left alone (no study has that slug): 2023-01-01-gone.md" in out
    assert (tmp_path / "2023-01-01-gone.md").read_text() == "an old file\n"


def test_export_dry_run_says_what_it_would_write_and_writes_nothing(tmp_path, varied_studies):
    out, _ = run("export_studies", str(tmp_path / "new"), "--dry-run")
    assert "would be created: unicode.md" in out
    assert "4 would be written (4 created, 0 updated), 0 unchanged, 4 in total (dry run" in out
    assert not (tmp_path / "new").exists()

    run("export_studies", str(tmp_path / "new"))
    before = files(tmp_path / "new")
    CaseStudy.objects.filter(slug="a-draft").update(summary="A new summary.")
    out, _ = run("export_studies", str(tmp_path / "new"), "--dry-run")
    assert "would be updated: a-draft.md" in out
    assert "1 would be written (0 created, 1 updated), 3 unchanged" in out
    assert files(tmp_path / "new") == before


def test_import_dry_run_says_what_would_change_and_changes_nothing(tmp_path, varied_studies):
    run("export_studies", str(tmp_path))
    path = tmp_path / "unicode.md"
    path.write_text(
        path.read_text().replace("team_size: 4", "team_size: 5").replace('before: "480"', 'before: "500"')
    )
    (tmp_path / "brand-new.md").write_text(study_text("brand-new"))
    before = list(CaseStudy.objects.order_by("pk").values_list("pk", "updated_at", "team_size"))

    out, _ = run("import_studies", str(tmp_path), "--dry-run")

    assert "would be updated: unicode.md (team_size, outcomes)" in out
    assert "would be created: brand-new.md" in out
    assert "1 created, 1 updated, 3 unchanged, 0 failed (dry run: nothing was changed)" in out
    assert list(CaseStudy.objects.order_by("pk").values_list("pk", "updated_at", "team_size")) == before
    assert Outcome.objects.filter(before="500").count() == 0


def test_import_sets_facts_and_replaces_outcomes_that_differ(tmp_path):
    (tmp_path / "a.md").write_text(
        study_text(
            "alpha",
            extra="role: Lead\ntimeframe: 6 months\nteam_size: 3\nstack: [Django, Redis]\n"
            "outcomes:\n  - {label: Latency, before: 480, after: 95, unit: ms}\n  - label: Cost\n",
        )
    )
    run("import_studies", str(tmp_path))
    study = CaseStudy.objects.get(slug="alpha")
    assert (study.role, study.timeframe, study.team_size, study.stack) == (
        "Lead",
        "6 months",
        3,
        "Django, Redis",
    )
    assert list(study.outcomes.values_list("label", "before", "after", "unit")) == [
        ("Latency", "480", "95", "ms"),
        ("Cost", "", "", ""),
    ]

    (tmp_path / "a.md").write_text(study_text("alpha", extra="outcomes:\n  - label: Cost\n    after: '1'\n"))
    out, _ = run("import_studies", str(tmp_path))
    assert "updated: a.md (role, timeframe, team_size, stack, outcomes)" in out
    study.refresh_from_db()
    assert (study.role, study.team_size) == ("", None)
    assert list(study.outcomes.values_list("label", "after", "position")) == [("Cost", "1", 0)]


def test_bad_files_are_each_reported_and_the_good_ones_still_import(tmp_path):
    bad = {
        "broken-yaml.md": ("---\ntitle: [unclosed\n---\nbody\n", "3: its front matter is not valid YAML"),
        "no-title.md": ("---\nslug: x\nsummary: s\npublished_at: 2024-01-01\n---\n", "1: missing title"),
        "zz-same-slug.md": (study_text("good-one", title="Second"), "3: slug 'good-one' is already used by"),
        "team.md": (study_text("team", extra="team_size: lots\n"), "8: team_size 'lots' is not a number"),
        "unlabelled.md": (
            study_text("unlabelled", extra="outcomes:\n  - before: 1\n"),
            "9: outcome 1 has no label",
        ),
    }
    for name, (text, _) in bad.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "good-one.md").write_text(study_text("good-one", title="First"))
    (tmp_path / "good-two.md").write_text(study_text("good-two"))

    out, err, failure = run_failing("import_studies", str(tmp_path))

    assert "5 file(s) could not be imported" in failure
    assert "2 created, 0 updated, 0 unchanged, 5 failed" in out
    for name, (_, problem) in bad.items():
        assert f"{name}:{problem}" in err
    assert sorted(CaseStudy.objects.values_list("slug", flat=True)) == ["good-one", "good-two"]
    assert CaseStudy.objects.get(slug="good-one").title == "First"


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ("team_size: lots\n", "team_size 'lots' is not a number of people"),
        ("team_size: -2\n", "team_size: Ensure this value is greater than or equal to 0."),
        ("team_size: yes\n", "team_size True is not a number of people"),
        ("role: [a, b]\n", "role must be text"),
        ("outcomes: fast\n", "outcomes must be a list"),
        ("outcomes:\n  - just words\n", "outcome 1 is not a set of 'name: value' lines"),
        ("outcomes:\n  - label: ok\n  - after: '2'\n", "outcome 2 has no label"),
        ("outcomes:\n  - label: ok\n    colour: red\n", "outcome 1: unknown field: colour"),
        (f"outcomes:\n  - label: {'x' * 121}\n", "outcome 1: label: Ensure this value has at most 120"),
        (f"stack: {'x' * 301}\n", "stack: Ensure this value has at most 300"),
        ("1: one\ncolour: blue\n", "unknown field: 1; unknown field: colour"),
    ],
)
def test_a_bad_fact_or_outcome_says_what_is_wrong(extra, problem):
    with pytest.raises(StudyFileError) as error:
        parse_study_file(study_text("ok", extra=extra))
    assert problem in str(error.value)


def test_tags_given_twice_in_different_case_are_one_tag():
    assert parse_study_file(study_text("ok").replace("[Security]", "[Security, security]")).tags == [
        "Security"
    ]


@pytest.mark.parametrize("count", [2, 20])
def test_export_queries_do_not_grow_with_the_number_of_studies(tmp_path, django_assert_num_queries, count):
    for number in range(count):
        study = CaseStudyFactory(tags=["Security", "Encryption"])
        OutcomeFactory(study=study)
        if number < 2:
            add_image(study, "figure.png", width=64, height=48)
    # The studies, their tags, outcomes, images and old slugs; every tag; the site profile and its links.
    with django_assert_num_queries(7):
        run("export_studies", str(tmp_path))
    assert len(list(tmp_path.glob("*.md"))) == count
    assert len(list(tmp_path.glob("*/figure.png"))) == 2


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("command", ["export_studies", "import_studies"])
@pytest.mark.parametrize(
    ("stdout", "verbosity", "bar"),
    [(Terminal, 1, True), (io.StringIO, 1, False), (Terminal, 0, False)],
)
def test_a_progress_bar_shows_on_long_runs_in_a_terminal_only(
    tmp_path, capsys, command, stdout, verbosity, bar
):
    for _ in range(21):
        CaseStudyFactory()
    call_command("export_studies", str(tmp_path), stdout=io.StringIO())
    capsys.readouterr()

    out = stdout()
    call_command(command, str(tmp_path), verbosity=verbosity, stdout=out, stderr=io.StringIO())

    # An import also reads tags.yaml and site.yaml.
    assert (("/21 [" if command == "export_studies" else "/23 [") in capsys.readouterr().err) is bar
    if verbosity:
        assert "21 unchanged" in out.getvalue()


def test_no_progress_bar_for_a_short_run(tmp_path, capsys):
    CaseStudyFactory()
    call_command("export_studies", str(tmp_path), stdout=Terminal())
    assert capsys.readouterr().err == ""


def test_exporting_into_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(CommandError, match="is not a directory"):
        run("export_studies", str(tmp_path / "file"))


def test_export_creates_the_directory(tmp_path):
    CaseStudyFactory(slug="one", published_at=timezone.now())
    run("export_studies", str(tmp_path / "deep" / "er"))
    assert list(files(tmp_path / "deep" / "er")) == ["one.md", "site.yaml", "tags.yaml"]


# Images


def add_picture(study, name, image_format="PNG", *, alt="A figure", credit="", is_cover=False):
    """An image of `study` in `image_format`, small so that its renditions are quick to make."""
    image = StudyImage(study=study, name=name, alt=alt, credit=credit, is_cover=is_cover)
    image.show(images.accept(image_bytes(160, 120, image_format), name))
    image.save()
    return image


def an_empty_site(settings, tmp_path):
    """No studies and no image files: what a new site starts with."""
    empty_the_database()
    settings.MEDIA_ROOT = tmp_path / "another-media-root"


@pytest.fixture
def illustrated():
    """A study with a JPEG cover and two figures (PNG, WebP) its body shows, and one without images."""
    study = CaseStudyFactory(
        slug="illustrated",
        tags=["Security"],
        body='## Design\n\n![The data flow](flow.png "How data moves")\n\n![A rack](rack-front.webp)\n',
    )
    add_picture(study, "whiteboard.jpg", "JPEG", alt="The first sketch", credit="Photo: Ada", is_cover=True)
    add_picture(study, "flow.png", alt="The data flow: browser, then vault")
    add_picture(study, "rack-front.webp", "WEBP", alt="  A server rack  ")
    CaseStudyFactory(slug="plain", tags=["Security"])
    return study


def test_images_are_listed_in_the_front_matter_cover_first_then_by_name(illustrated):
    study = CaseStudy.objects.with_tags().prefetch_related("outcomes", "images").get(slug="illustrated")
    assert study_to_text(study).split("---\n")[1].split("published_at")[1].splitlines()[1:] == [
        "images:",
        "  - name: whiteboard.jpg",
        "    alt: The first sketch",
        '    credit: "Photo: Ada"',
        "    cover: true",
        "  - name: flow.png",
        '    alt: "The data flow: browser, then vault"',
        "  - name: rack-front.webp",
        "    alt: A server rack",
    ]


def test_export_import_into_an_empty_site_export_again_is_byte_identical_with_images(
    tmp_path, settings, illustrated
):
    run("export_studies", str(tmp_path / "a"))
    an_empty_site(settings, tmp_path)

    out, _ = run("import_studies", str(tmp_path / "a"))
    assert "2 created, 0 updated, 0 unchanged, 0 failed" in out
    run("export_studies", str(tmp_path / "b"))

    assert files(tmp_path / "a") == files(tmp_path / "b")
    assert list(files(tmp_path / "a")) == [
        "illustrated",
        "illustrated/flow.png",
        "illustrated/rack-front.webp",
        "illustrated/whiteboard.jpg",
        "illustrated.md",
        "plain.md",
        "site.yaml",
        "tags.yaml",
    ]
    study = CaseStudy.objects.get(slug="illustrated")
    assert list(study.images.values_list("name", "alt", "credit", "is_cover", "extension")) == [
        ("whiteboard.jpg", "The first sketch", "Photo: Ada", True, "jpg"),
        ("flow.png", "The data flow: browser, then vault", "", False, "png"),
        ("rack-front.webp", "A server rack", "", False, "webp"),
    ]
    # The masters and their renditions are in the new site's storage, and the body shows them.
    for image in study.images.all():
        assert all(images.default_storage.exists(name) for name in image.file_names)
    assert study.body_html.count("<picture>") == 2
    assert (tmp_path / "a" / "illustrated" / "flow.png").read_bytes() == (
        images.default_storage.open(study.images.get(name="flow.png").master_name).read()
    )


def test_importing_an_unchanged_export_with_images_changes_nothing(tmp_path, illustrated):
    tmp_path = tmp_path / "out"
    run("export_studies", str(tmp_path))
    before = list(StudyImage.objects.order_by("pk").values_list("pk", "name", "digest"))
    out, _ = run("import_studies", str(tmp_path))
    assert "0 created, 0 updated, 2 unchanged, 0 failed" in out
    assert list(StudyImage.objects.order_by("pk").values_list("pk", "name", "digest")) == before


def test_import_makes_a_studys_images_those_of_its_file(tmp_path, illustrated):
    tmp_path = tmp_path / "out"
    run("export_studies", str(tmp_path))
    kept = StudyImage.objects.get(name="flow.png")
    path = tmp_path / "illustrated.md"
    text = path.read_text()
    # The cover goes, a figure becomes the cover, a new figure comes, another figure's picture changes.
    text = text.replace(
        '  - name: whiteboard.jpg\n    alt: The first sketch\n    credit: "Photo: Ada"\n    cover: true\n', ""
    )
    text = text.replace(
        '    alt: "The data flow: browser, then vault"\n',
        '    alt: "The data flow: browser, then vault"\n    cover: true\n  - name: new.png\n    alt: New\n',
    )
    path.write_text(text)
    (tmp_path / "illustrated" / "new.png").write_bytes(image_bytes(80, 60))
    (tmp_path / "illustrated" / "rack-front.webp").write_bytes(image_bytes(90, 60, "WEBP"))

    out, _ = run("import_studies", str(tmp_path), "--dry-run")
    assert "would be updated: illustrated.md (images)" in out
    out, _ = run("import_studies", str(tmp_path))

    assert "updated: illustrated.md (images)" in out
    study = CaseStudy.objects.get(slug="illustrated")
    assert list(study.images.values_list("name", "is_cover", "width")) == [
        ("flow.png", True, 160),
        ("new.png", False, 80),
        ("rack-front.webp", False, 90),
    ]
    assert study.images.get(name="flow.png").pk == kept.pk
    out, _ = run("export_studies", str(tmp_path))
    assert "removed: illustrated/whiteboard.jpg" in out
    assert "1 written (0 created, 1 updated), 1 unchanged, 2 in total" in out


def test_export_removes_the_images_a_study_no_longer_has(tmp_path, illustrated):
    tmp_path = tmp_path / "out"
    run("export_studies", str(tmp_path))
    (tmp_path / "illustrated" / ".flow.png.partial").write_bytes(b"left by an interrupted export")
    StudyImage.objects.filter(name="flow.png").delete()

    out, _ = run("export_studies", str(tmp_path), "--dry-run")
    assert "would be removed: illustrated/flow.png" in out
    assert (tmp_path / "illustrated" / "flow.png").exists()
    out, _ = run("export_studies", str(tmp_path))

    assert out.splitlines() == [
        "updated: illustrated.md",
        "removed: illustrated/.flow.png.partial",
        "removed: illustrated/flow.png",
        "1 written (0 created, 1 updated), 1 unchanged, 2 in total",
    ]
    assert sorted(path.name for path in (tmp_path / "illustrated").iterdir()) == [
        "rack-front.webp",
        "whiteboard.jpg",
    ]
    # A study left without images has no folder, as if it never had any.
    StudyImage.objects.all().delete()
    run("export_studies", str(tmp_path))
    assert not (tmp_path / "illustrated").exists()


def test_export_leaves_the_folder_of_a_study_it_does_not_have(tmp_path, illustrated):
    tmp_path = tmp_path / "out"
    (tmp_path / "gone").mkdir(parents=True)
    (tmp_path / "gone" / "old.png").write_bytes(b"x")
    out, _ = run("export_studies", str(tmp_path))
    assert "Left alone (no study has that slug): gone/" in out
    assert (tmp_path / "gone" / "old.png").exists()


def test_export_writes_no_image_whose_name_names_a_folder(tmp_path, illustrated):
    tmp_path = tmp_path / "out"
    StudyImage.objects.filter(name="flow.png").update(name="../escaped.png")
    out, err, failure = run_failing("export_studies", str(tmp_path))
    assert "illustrated.md: The file name “../escaped.png” names a folder" in err
    assert "1 study(ies) could not be exported" in failure
    assert "1 written (1 created, 0 updated), 0 unchanged, 1 failed, 2 in total" in out
    assert list(files(tmp_path)) == ["plain.md", "site.yaml", "tags.yaml"]


def test_export_says_which_picture_is_missing_from_the_media_storage(tmp_path, illustrated):
    tmp_path = tmp_path / "out"
    images.default_storage.delete(StudyImage.objects.get(name="flow.png").master_name)
    _, err, _ = run_failing("export_studies", str(tmp_path))
    assert "illustrated.md: the picture of image 'flow.png' (images/" in err
    assert not (tmp_path / "illustrated.md").exists()


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        (
            "images:\n  - name: ../../etc/passwd\n    alt: x\n",
            "image 1: The file name “../../etc/passwd” names a",
        ),
        ("images:\n  - name: /etc/passwd\n    alt: x\n", "names a folder"),
        ("images:\n  - name: .hidden.png\n    alt: x\n", "names a folder"),
        ("images:\n  - name: a<b>.png\n    alt: x\n", "is not a plain file name"),
        ("images: flow.png\n", "images must be a list"),
        ("images:\n  - flow.png\n", "image 1 is not a set of 'name: value' lines"),
        ("images:\n  - alt: x\n", "image 1 has no name"),
        ("images:\n  - name: a.png\n", "image 'a.png' has no alt text"),
        ("images:\n  - name: a.png\n    alt: x\n    size: 3\n", "image 1: unknown field: size"),
        ("images:\n  - name: a.png\n    alt: x\n    cover: maybe\n", "cover must be true or false"),
        (f"images:\n  - name: a.png\n    alt: {'x' * 301}\n", "image 'a.png': alt: Ensure this value"),
        ("images:\n  - {name: a.png, alt: x}\n  - {name: a.png, alt: y}\n", "'a.png' is listed twice"),
        (
            "images:\n  - {name: a.png, alt: x, cover: true}\n  - {name: b.png, alt: y, cover: true}\n",
            "a study has one cover, and 'a.png', 'b.png' all say cover: true",
        ),
    ],
)
def test_a_bad_image_entry_says_what_is_wrong(extra, problem):
    with pytest.raises(StudyFileError) as error:
        parse_study_file(study_text("ok", extra=extra))
    assert problem in str(error.value)


def test_images_are_read_in_the_order_they_are_written():
    study_file = parse_study_file(
        study_text(
            "ok",
            extra="images:\n  - {name: b.png, alt: B}\n  - {name: a.png, alt: A}\n"
            "  - {name: c.jpg, alt: C, cover: true, credit: ' Me '}\n",
        )
    )
    assert study_file.images == [
        {"name": "c.jpg", "alt": "C", "credit": "Me", "cover": True},
        {"name": "a.png", "alt": "A", "credit": "", "cover": False},
        {"name": "b.png", "alt": "B", "credit": "", "cover": False},
    ]


def test_export_neither_writes_nor_removes_through_a_linked_folder(tmp_path, illustrated):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("not an image of any study")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "illustrated").symlink_to(elsewhere)
    (out_dir / "plain").symlink_to(elsewhere)

    _, err, _ = run_failing("export_studies", str(out_dir))

    assert "illustrated.md: illustrated is not a plain folder, so its images are not written there" in err
    assert sorted(path.name for path in elsewhere.iterdir()) == ["keep.txt"]
    assert (out_dir / "plain.md").exists()
