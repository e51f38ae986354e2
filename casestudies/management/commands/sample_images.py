"""Give a scratch site photographs, for the image budgets `make audit` checks (bin/audit).

The seed studies keep no images. This command makes camera-sized pictures (4000x3000
by default: gradients, shapes and grain, so they weigh what photos weigh) and uploads
them through the same path as the admin: a cover for each of the newest `--covers`
public studies, making up studies when there are fewer, and `--figures` photos in
the body of the newest one. Not for a real site: it writes into its content.
"""

import io
import random

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone
from PIL import Image, ImageDraw, ImageFilter

from casestudies import images
from casestudies.models import CaseStudy, StudyImage


def photo(rng, width, height):
    """A JPEG as a camera writes one, in size and detail if not in beauty."""
    small = (width // 8, height // 8)
    sky, ground = (rng.randrange(256) for _ in range(3)), (rng.randrange(256) for _ in range(3))
    picture = Image.linear_gradient("L").resize(small)
    picture = Image.merge(
        "RGB",
        [picture.point(lambda v, a=a, b=b: a + (b - a) * v // 255) for a, b in zip(sky, ground, strict=True)],
    )
    draw = ImageDraw.Draw(picture)
    for _ in range(40):
        x, y = rng.randrange(small[0]), rng.randrange(small[1])
        size = rng.randrange(max(1, small[0] // 40), max(2, small[0] // 3))
        colour = tuple(rng.randrange(256) for _ in range(3))
        draw.ellipse((x, y, x + size, y + size * rng.uniform(0.3, 1.5)), fill=colour)
    picture = picture.filter(ImageFilter.GaussianBlur(3)).resize((width, height), Image.Resampling.BICUBIC)
    grain = Image.effect_noise((width, height), 48).convert("RGB")
    picture = Image.blend(picture, grain, 0.3)
    output = io.BytesIO()
    picture.save(output, "JPEG", quality=88)
    return output.getvalue()


class Command(BaseCommand):
    help = "Upload generated photographs as covers and figures (for the audit's image budgets)."

    def add_arguments(self, parser):
        parser.add_argument("--covers", type=int, default=12, help="Studies that get a cover (default 12).")
        parser.add_argument("--figures", type=int, default=3, help="Photos in the newest study (default 3).")
        parser.add_argument("--width", type=int, default=4000)
        parser.add_argument("--height", type=int, default=3000)
        parser.add_argument("--seed", type=int, default=1)

    def handle(self, *args, covers, figures, width, height, seed, **options):
        rng = random.Random(seed)  # noqa: S311 - pictures, not secrets
        with transaction.atomic():
            studies = list(CaseStudy.objects.published().order_by("-published_at", "title")[:covers])
            for number in range(len(studies), covers):
                studies.append(made_up_study(number))
            for study in studies:
                upload(
                    study,
                    "cover.jpg",
                    photo(rng, width, height),
                    f"A photograph for {study.title}",
                    cover=True,
                )
            newest = studies[0]
            names = [f"photo-{number}.jpg" for number in range(1, figures + 1)]
            for name in names:
                upload(newest, name, photo(rng, width, height), f"A photograph, {name}")
            figures_markdown = "\n\n".join(f'![A photograph]({name} "{name}")' for name in names)
            newest.body = f"{newest.body}\n\n## Photographs\n\n{figures_markdown}\n"
            newest.save()
        self.stdout.write(f"{len(studies)} covers; {figures} photos in {newest.get_absolute_url()}")


def made_up_study(number):
    return CaseStudy.objects.create(
        title=f"Sample study {number + 1}",
        slug=f"sample-study-{number + 1}",
        summary="A study made up to fill the list with covers.",
        body="## Context\n\nA made-up study.\n",
        status=CaseStudy.Status.PUBLISHED,
        published_at=timezone.now() - timezone.timedelta(days=3650 + number),
    )


def upload(study, name, data, alt, cover=False):
    image = StudyImage.objects.filter(study=study, name=name).first() or StudyImage(study=study, name=name)
    image.alt, image.is_cover = alt, cover
    image.show(images.accept(data, name))
    image.save()
