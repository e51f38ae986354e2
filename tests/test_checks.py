"""Gentle checks: warnings an author sees after saving, which never block the save."""

import pytest

from casestudies.checks import review
from tests.factories import CaseStudyFactory, draft

pytestmark = pytest.mark.django_db


def test_a_tidy_study_has_no_warnings():
    study = CaseStudyFactory(summary="Short and clear.", body="## One\n\n### Two\n\n![A diagram](/d.png)")
    assert review(study) == []


def test_a_summary_too_long_for_a_meta_description_is_flagged():
    [warning] = review(CaseStudyFactory(summary="word " * 40, body=""))
    assert "search engines show about 160" in warning


def test_a_skipped_heading_level_is_flagged():
    [warning] = review(CaseStudyFactory(summary="s", body="## Context\n\n#### Detail"))
    assert "“Detail” is level 4 right after level 2" in warning
    assert "use ###" in warning


def test_an_image_without_alt_text_is_flagged():
    [warning] = review(CaseStudyFactory(summary="s", body="![](/static/chart.png)"))
    assert "/static/chart.png has no alt text" in warning


def test_links_to_missing_and_draft_studies_are_flagged():
    CaseStudyFactory(slug="exists")
    draft(slug="not-yet")
    body = "[a](/case-studies/exists/) [b](/case-studies/nowhere/) [c](/case-studies/not-yet/#x)"
    warnings = review(CaseStudyFactory(summary="s", body=body))
    assert warnings == [
        "The link to /case-studies/not-yet/ leads to a draft: visitors cannot see it.",
        "The link to /case-studies/nowhere/ leads nowhere: no study has that slug.",
    ]


def test_a_link_to_an_old_slug_is_fine():
    study = CaseStudyFactory(slug="old")
    study.slug = "new"
    study.save()
    assert review(CaseStudyFactory(summary="s", body="[x](/case-studies/old/)")) == []


def test_warnings_show_in_the_admin_and_the_study_is_saved(superuser_client):
    from casestudies.models import CaseStudy
    from tests.test_admin import CHANGELIST, study_form

    response = superuser_client.post(
        CHANGELIST + "add/", study_form(summary="word " * 40, body="## A\n\n#### B"), follow=True
    )
    messages = [str(message) for message in response.context["messages"]]
    assert any("search engines show about 160" in message for message in messages)
    assert any("level 4 right after level 2" in message for message in messages)
    assert CaseStudy.objects.filter(slug="a-new-study").exists()
