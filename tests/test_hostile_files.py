"""Study files made to hurt: alias bombs, huge files, planted links and slugs that climb out of DIR."""

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from casestudies.models import CaseStudy
from casestudies.studyfiles import StudyFileError, parse_study_file
from tests.factories import CaseStudyFactory, add_image
from tests.test_studyfiles import run, run_failing

pytestmark = pytest.mark.django_db

BASE_DIR = Path(__file__).resolve().parent.parent
NO_ALIASES = "front matter may not use YAML anchors or aliases (& and *)"


def study_text(slug, front="", body="Body.\n"):
    return (
        f"---\ntitle: A title\nslug: {slug}\nsummary: A summary.\nstatus: published\n"
        f"published_at: 2024-01-01T00:00:00Z\n{front}---\n{body}"
    )


def alias_bomb(levels):
    """Nested aliases, 9**levels strings once expanded, under keys the import knows, with the title last."""
    keys = ["repository_url", "live_url", "role", "timeframe", "team_size", "stack", "outcomes", "images"]
    lines = [f'{keys[0]}: &a0 ["x","x","x","x","x","x","x","x","x"]']
    lines += [f"{keys[level]}: &a{level} [{','.join([f'*a{level - 1}'] * 9)}]" for level in range(1, levels)]
    return (
        "---\n" + "\n".join(lines) + f"\ntitle: *a{levels - 1}\nslug: bomb\nsummary: s\n"
        "published_at: 2024-01-01\n---\n"
    )


# Import: YAML anchors and aliases.


def test_an_alias_bomb_is_refused_unexpanded_and_the_other_files_still_import(tmp_path):
    # Eight levels: 43 million strings; expanded, 8 s and 340 MB before anchors were refused.
    (tmp_path / "0-bomb.md").write_text(alias_bomb(8))
    (tmp_path / "1-good.md").write_text(study_text("good"))
    # Refused while the YAML is composed, before any alias is expanded.
    out, err, failure = run_failing("import_studies", str(tmp_path))
    assert err == f"0-bomb.md:2: {NO_ALIASES}\n"
    assert "1 created, 0 updated, 0 unchanged, 1 failed" in out
    assert "1 file(s) could not be imported" in failure
    assert list(CaseStudy.objects.values_list("slug", flat=True)) == ["good"]


@pytest.mark.parametrize(
    "front",
    [
        "tags: &tags [Security]\n",  # an anchor, even one never used
        "tags: [&tag Security]\n",
        "tags: &tags [Security]\nstack: *tags\n",
        "outcomes:\n  - &first {label: a, before: '1'}\n  - <<: *first\n    label: b\n",  # a merge key
    ],
)
def test_any_anchor_or_alias_is_refused(front):
    with pytest.raises(StudyFileError, match=r"may not use YAML anchors or aliases \(& and \*\)"):
        parse_study_file(study_text("alpha", front))


def test_ampersands_and_stars_in_text_are_still_text(tmp_path):
    CaseStudyFactory(slug="alpha", title="&anchor *alias R&D", summary="*Fast* & cheap", stack="C++ & *nix")
    run("export_studies", str(tmp_path))
    study_file = parse_study_file((tmp_path / "alpha.md").read_text())
    assert study_file.fields["title"] == "&anchor *alias R&D"
    assert study_file.fields["summary"] == "*Fast* & cheap"
    assert study_file.fields["stack"] == "C++ & *nix"


def test_front_matter_nested_too_deeply_is_a_per_file_error(tmp_path):
    (tmp_path / "0-deep.md").write_text(study_text("deep", "stack: " + "[" * 5000 + "]" * 5000 + "\n"))
    (tmp_path / "1-good.md").write_text(study_text("good"))
    _, err, _ = run_failing("import_studies", str(tmp_path))
    assert err == "0-deep.md:7: its front matter is nested too deeply\n"
    assert list(CaseStudy.objects.values_list("slug", flat=True)) == ["good"]


# Import: the size of a study file.


@pytest.fixture
def opened(monkeypatch):
    """The paths the code under test opens, by name."""
    names = []
    real_os_open, real_io_open = os.open, io.open

    def os_open(path, *args, **kwargs):
        names.append(Path(path).name)
        return real_os_open(path, *args, **kwargs)

    def io_open(file, *args, **kwargs):
        if isinstance(file, str | os.PathLike):
            names.append(Path(file).name)
        return real_io_open(file, *args, **kwargs)

    monkeypatch.setattr(os, "open", os_open)
    monkeypatch.setattr(io, "open", io_open)
    return names


def test_a_file_over_the_size_limit_is_refused_unread_and_the_others_still_import(tmp_path, opened):
    with open(tmp_path / "0-big.md", "wb") as big:
        big.write(study_text("big").encode())
        big.truncate(50 * 1024 * 1024)  # sparse: 50 MB on paper, no disk used
    (tmp_path / "1-good.md").write_text(study_text("good"))
    out, err, _ = run_failing("import_studies", str(tmp_path))
    assert err == "0-big.md: it is 51,200 KB; a study file may be at most 1,024 KB (DJANGO_MAX_IMPORT_KB)\n"
    assert "0-big.md" not in opened
    assert "1-good.md" in opened
    assert "1 created, 0 updated, 0 unchanged, 1 failed" in out
    assert list(CaseStudy.objects.values_list("slug", flat=True)) == ["good"]


def test_the_size_limit_is_the_setting_and_a_file_of_exactly_that_size_is_read(tmp_path, settings):
    settings.MAX_IMPORT_KB = 2
    text = study_text("exact")
    (tmp_path / "exact.md").write_text(text + "x" * (2048 - len(text) - 1) + "\n")
    (tmp_path / "over.md").write_text(study_text("over", body="x" * 2048 + "\n"))
    _, err, _ = run_failing("import_studies", str(tmp_path))
    assert err == "over.md: it is 3 KB; a study file may be at most 2 KB (DJANGO_MAX_IMPORT_KB)\n"
    assert list(CaseStudy.objects.values_list("slug", flat=True)) == ["exact"]


def test_a_folder_named_like_a_study_file_is_a_per_file_error(tmp_path):
    (tmp_path / "0-folder.md").mkdir()
    (tmp_path / "1-good.md").write_text(study_text("good"))
    _, err, _ = run_failing("import_studies", str(tmp_path))
    assert err == "0-folder.md: it is not a plain file\n"
    assert list(CaseStudy.objects.values_list("slug", flat=True)) == ["good"]


def load_setting(tmp_path, value):
    """MAX_IMPORT_KB as a fresh interpreter reads it with DJANGO_MAX_IMPORT_KB=`value` (None: unset)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "DATABASE_URL"))}
    env.update(DJANGO_SETTINGS_MODULE="portfolio.settings", DJANGO_VAR_DIR=str(tmp_path / "var"))
    if value is not None:
        env["DJANGO_MAX_IMPORT_KB"] = value
    code = "from portfolio import settings; print(settings.MAX_IMPORT_KB)"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=BASE_DIR, env=env, capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize(("value", "kilobytes"), [(None, "1024"), ("", "1024"), (" 64 ", "64")])
def test_the_size_limit_setting_defaults_to_a_megabyte(tmp_path, value, kilobytes):
    result = load_setting(tmp_path, value)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == kilobytes


@pytest.mark.parametrize("value", ["0", "-1", "1.5", "1MB", "lots", "١٠"])
def test_a_mistyped_size_limit_is_a_clear_error(tmp_path, value):
    result = load_setting(tmp_path, value)
    assert result.returncode != 0
    assert "ImproperlyConfigured: DJANGO_MAX_IMPORT_KB must be a whole number of kilobytes, 1 or more" in (
        result.stderr
    )


# Export: links planted in DIR and slugs that leave it.


@pytest.fixture
def planted(tmp_path):
    """An export folder and, outside it, a file that a planted link points at."""
    out, target = tmp_path / "out", tmp_path / "precious.txt"
    out.mkdir()
    target.write_text("not to be overwritten")
    return out, target


def test_export_refuses_a_study_file_that_is_a_link(planted):
    out, target = planted
    CaseStudyFactory(slug="alpha")
    CaseStudyFactory(slug="beta")
    (out / "alpha.md").symlink_to(target)
    _, err, failure = run_failing("export_studies", str(out))
    assert (
        err == "alpha.md: alpha.md is a symbolic link; export writes only plain files, so it is left alone\n"
    )
    assert "1 study(ies) could not be exported" in failure
    assert target.read_text() == "not to be overwritten"
    assert (out / "alpha.md").is_symlink()
    assert (out / "beta.md").read_text().startswith("---\n")


def test_export_refuses_an_image_that_is_a_link(planted):
    out, target = planted
    add_image(CaseStudyFactory(slug="alpha"), "flow.png", width=64, height=48)
    (out / "alpha").mkdir()
    (out / "alpha" / "flow.png").symlink_to(target)
    _, err, _ = run_failing("export_studies", str(out))
    assert "alpha.md: alpha/flow.png is a symbolic link; export writes only plain files" in err
    assert target.read_text() == "not to be overwritten"
    assert not (out / "alpha.md").exists()


def test_export_refuses_a_folder_where_a_study_file_goes(planted):
    out, _ = planted
    CaseStudyFactory(slug="alpha")
    (out / "alpha.md").mkdir()
    _, err, _ = run_failing("export_studies", str(out))
    assert err == "alpha.md: alpha.md is not a plain file, so it is left alone\n"


def test_export_never_writes_through_a_link_planted_at_a_temporary_name(planted):
    out, target = planted
    CaseStudyFactory(slug="alpha")
    add_image(CaseStudyFactory(slug="beta"), "flow.png", width=64, height=48)
    (out / "beta").mkdir()
    # The names an export used to write through before moving into place.
    for name in (".alpha.md.partial", "beta/.flow.png.partial", ".beta.md.partial"):
        (out / name).symlink_to(target)
    run("export_studies", str(out))
    assert target.read_text() == "not to be overwritten"
    assert (out / "alpha.md").read_text().startswith("---\n")
    assert not (out / "alpha.md").is_symlink()
    assert (out / "beta" / "flow.png").read_bytes().startswith(b"\x89PNG")
    # Only the files the export made, and the planted links as they were.
    assert sorted(path.name for path in out.iterdir()) == [
        ".alpha.md.partial",
        ".beta.md.partial",
        "alpha.md",
        "beta",
        "beta.md",
        "site.yaml",
        "tags.yaml",
    ]
    assert (out / ".alpha.md.partial").is_symlink()


@pytest.mark.parametrize(
    "slug", ["../../escaped", "../escaped", "sub/escaped", "{root}/escaped", ".", "..", ""]
)
def test_export_refuses_a_slug_that_is_not_a_plain_name(tmp_path, slug):
    root = tmp_path / "root"  # tmp_path also holds the media storage
    slug = slug.format(root=root)
    out = root / "a" / "b" / "out"
    out.mkdir(parents=True)
    (out / "keep.txt").write_text("someone else's")
    CaseStudyFactory(slug="good")
    bad = CaseStudyFactory(slug="bad")
    add_image(bad, "flow.png", width=64, height=48)
    # Set outside the form, so no validator saw it.
    CaseStudy.objects.filter(pk=bad.pk).update(slug=slug)

    stdout, err, failure = run_failing("export_studies", str(out))

    assert err == (
        f"{slug}.md: the slug {slug!r} is not a plain name, so this study is not written "
        "(its file would not be directly inside the export folder)\n"
    )
    assert "1 written (1 created, 0 updated), 0 unchanged, 1 failed, 2 in total" in stdout
    assert "1 study(ies) could not be exported" in failure
    assert sorted(path.relative_to(root).as_posix() for path in root.rglob("*")) == [
        "a",
        "a/b",
        "a/b/out",
        "a/b/out/good.md",
        "a/b/out/keep.txt",
        "a/b/out/site.yaml",
        "a/b/out/tags.yaml",
    ]
