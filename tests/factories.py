import datetime

import factory
from django.utils import timezone
from django.utils.text import slugify

from casestudies.models import CaseStudy, Outcome


class CaseStudyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CaseStudy
        skip_postgeneration_save = True

    title = factory.Sequence(lambda n: f"Case study number {n}")
    slug = factory.LazyAttribute(lambda study: slugify(study.title))
    # Fixed words, not random ones: a random word could match a search by chance.
    summary = factory.Sequence(lambda n: f"How case study {n} was planned, built and measured.")
    body = "## Context\n\nWhy the system exists.\n\n## Design\n\n```python\nprint('hello')\n```\n"
    status = CaseStudy.Status.PUBLISHED
    # Each study a day older than the one before: a clear newest-first order.
    published_at = factory.Sequence(lambda n: timezone.now() - datetime.timedelta(days=n + 1))

    @factory.post_generation
    def tags(self, create, extracted, **kwargs):
        if create and extracted:
            self.tags.set(extracted)


class OutcomeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Outcome

    study = factory.SubFactory(CaseStudyFactory)
    label = factory.Sequence(lambda n: f"Measure {n}")
    before = "480"
    after = "95"
    unit = "ms"
    position = factory.Sequence(lambda n: n)


def draft(**kwargs):
    return CaseStudyFactory(status=CaseStudy.Status.DRAFT, **kwargs)


def scheduled(**kwargs):
    return CaseStudyFactory(published_at=timezone.now() + datetime.timedelta(days=3), **kwargs)
