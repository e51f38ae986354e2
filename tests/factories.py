import datetime
import io
import itertools

import factory
from django.utils import timezone
from django.utils.text import slugify
from PIL import Image

from casestudies import images
from casestudies.models import CaseStudy, Outcome, StudyImage


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


_hues = itertools.count()


def image_bytes(width=1200, height=800, image_format="PNG", **save_options):
    """A picture with some detail (a gradient in a colour of its own), encoded as `image_format`."""
    hue = next(_hues) * 37 % 256
    gradient = Image.linear_gradient("L").resize((width, height))
    picture = Image.merge("RGB", (gradient, Image.new("L", (width, height), hue), gradient.transpose(0)))
    output = io.BytesIO()
    picture.save(output, image_format, **save_options)
    return output.getvalue()


def add_image(study, name="figure.png", *, width=1200, height=800, alt="A figure", is_cover=False, credit=""):
    """An image uploaded for `study`, its files in the default storage."""
    image = StudyImage(study=study, name=name, alt=alt, is_cover=is_cover, credit=credit)
    image.show(images.accept(image_bytes(width, height), name))
    image.save()
    return image
