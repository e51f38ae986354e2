"""Fill an empty database with generated case studies, for `make bench` (bin/bench).

Deterministic: the same --studies, --tags and --seed give the same studies. Bodies are
a few hundred words of varied vocabulary with headings, a code block and sometimes a
table, rendered by the real pipeline (render_markdown), so body_html, the table of
contents and the search index are what an author's studies would have. Rendering costs
about 4 ms a body, so --bodies distinct bodies (default 2,000) are written and rendered
and the studies share them in turn; titles, summaries, tags and dates are each study's own. Share cards are
not drawn: the card view draws a missing one on its first request.
"""

import itertools
import random
import sys
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify
from tqdm import tqdm

from casestudies import search
from casestudies.models import CaseStudy, Tag, TaggedCaseStudy
from casestudies.rendering import reading_minutes, render_markdown

BATCH_SIZE = 500
# Of the studies: the rest published and dated in the past.
DRAFT_SHARE = 0.05
SCHEDULED_SHARE = 0.05
YEARS = 8


def word_list(text):
    return text.split()


# Words a technical write-up is made of; vocabulary() adds a long tail of made-up rarer ones.
COMMON = word_list("""
system service latency throughput cache database query index request response queue worker
deploy release migration schema table column partition replica shard cluster node region
failure outage incident rollback canary traffic load balancer proxy gateway client server
memory cpu disk network bandwidth budget cost team engineer design review decision tradeoff
metric alert dashboard trace log span sample percentile baseline target goal result outcome
user customer account session token secret key certificate encryption signature audit policy
test suite fixture mock integration contract benchmark profile hotspot allocation garbage
thread lock mutex channel event stream batch job scheduler cron retry backoff timeout limit
pipeline build artifact container image registry cluster kubernetes terraform module config
api endpoint payload version compatibility deprecation feature flag experiment rollout
""")
SYLLABLES = word_list("ka lo mi ne ru sa ti vo zen dra pli qua mor tex vin sol gar hul bre cyn")
TAG_WORDS = word_list("""
security encryption zero-knowledge postgresql redis django python rust go typescript kubernetes
observability caching search payments healthcare fintech real-time streaming kafka graphql grpc
accessibility performance reliability privacy compliance mobile offline sync machine-learning
data-pipelines etl analytics billing auth oauth webassembly edge cdn serverless aws gcp azure
""")
TAG_QUALIFIERS = word_list("Distributed Mobile Edge Legacy Internal Public Realtime Batch Embedded Cloud")
LANGUAGES = ["python", "sql", "yaml", "go", "bash", "rust"]
CODE = {
    "python": "def {a}_{b}(items, limit={n}):\n    seen = set()\n    for item in items:\n"
    "        if item.{c} in seen:\n            continue\n        seen.add(item.{c})\n"
    "        yield item\n        if len(seen) >= limit:\n            return\n",
    "sql": "SELECT {a}.id, count(*) AS {b}_count\nFROM {a}\nJOIN {c} ON {c}.{a}_id = {a}.id\n"
    "WHERE {a}.created_at > now() - interval '{n} days'\nGROUP BY {a}.id\n"
    "ORDER BY {b}_count DESC\nLIMIT 20;\n",
    "yaml": "{a}:\n  replicas: {n}\n  {b}:\n    timeout: 30s\n    retries: 3\n  {c}:\n"
    "    enabled: true\n    limit: {n}00\n",
    "go": "func {a}{B}(ctx context.Context, n int) error {{\n\tfor i := 0; i < n; i++ {{\n"
    '\t\tif err := {c}(ctx, i); err != nil {{\n\t\t\treturn fmt.Errorf("{b} %d: %w", i, err)\n'
    "\t\t}}\n\t}}\n\treturn nil\n}}\n",
    "bash": '#!/bin/sh\nset -eu\nfor host in {a}-1 {a}-2 {a}-3; do\n  ssh "$host" systemctl restart {b}\n'
    "  sleep {n}\ndone\ncurl -fsS https://{c}.example.com/healthz\n",
    "rust": "fn {a}_{b}(values: &[u64]) -> Option<u64> {{\n    let total: u64 = values.iter().sum();\n"
    "    if values.is_empty() {{ return None; }}\n    Some(total / values.len() as u64 + {n})\n}}\n",
}


def vocabulary(rng):
    """COMMON words first, then a few thousand made-up ones: a Zipf-like draw gives a long tail."""
    made_up = set()
    while len(made_up) < 3000:
        made_up.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))))
    return COMMON + sorted(made_up)


class Writer:
    """Sentences, paragraphs and bodies drawn from one seeded random source."""

    def __init__(self, rng):
        self.rng = rng
        self.words = vocabulary(rng)
        # Zipf-ish weights: the n-th word is drawn about 1/n as often as the first.
        self.cumulative = []
        total = 0.0
        for rank in range(1, len(self.words) + 1):
            total += 1 / rank
            self.cumulative.append(total)

    def word(self):
        return self.rng.choices(self.words, cum_weights=self.cumulative)[0]

    def sentence(self, low=8, high=18):
        words = [self.word() for _ in range(self.rng.randint(low, high))]
        if self.rng.random() < 0.2:
            words[self.rng.randrange(len(words))] = f"`{self.word()}`"
        if self.rng.random() < 0.15:
            position = self.rng.randrange(len(words))
            words[position] = f"**{words[position]}**"
        return " ".join(words).capitalize() + "."

    def paragraph(self):
        return " ".join(self.sentence() for _ in range(self.rng.randint(2, 5)))

    def title(self):
        words = [self.word() for _ in range(self.rng.randint(3, 7))]
        return " ".join(word.capitalize() for word in words)

    def code_block(self):
        language = self.rng.choice(LANGUAGES)
        a, b, c = (self.rng.choice(COMMON) for _ in range(3))
        code = CODE[language].format(a=a, b=b, c=c, B=b.capitalize(), n=self.rng.randint(2, 90))
        return f"```{language}\n{code}```"

    def table(self):
        rows = ["| metric | before | after |", "|:---|---:|---:|"]
        for _ in range(self.rng.randint(3, 6)):
            before = self.rng.randint(50, 900)
            rows.append(
                f"| {self.word()} {self.word()} | {before} ms | {before // self.rng.randint(2, 9)} ms |"
            )
        return "\n".join(rows)

    def body(self):
        sections = []
        code_at = self.rng.randrange(4)
        for number in range(self.rng.randint(4, 6)):
            parts = [f"## {self.title()}"]
            parts += [self.paragraph() for _ in range(self.rng.randint(1, 3))]
            if number == code_at:
                parts.append(self.code_block())
            if number == 1 and self.rng.random() < 0.35:
                parts.append(self.table())
            if number == 2 and self.rng.random() < 0.4:
                parts.append("\n".join(f"- {self.sentence(4, 9)}" for _ in range(self.rng.randint(3, 5))))
            if number == 3 and self.rng.random() < 0.3:
                parts.append(f"### {self.title()}\n\n{self.paragraph()}")
            sections.append("\n\n".join(parts))
        return "\n\n".join(sections) + "\n"


def tag_names(rng, count):
    """`count` distinct tag names in varied casing ("PostgreSQL", "edge caching", "Zero-Knowledge")."""
    names, seen = [], set()
    candidates = [*TAG_WORDS, *(f"{q} {w}" for q in TAG_QUALIFIERS for w in TAG_WORDS)]
    rng.shuffle(candidates)
    styles = [str.title, str.lower, str.upper, lambda text: text[:1].upper() + text[1:]]
    number = 0
    while len(names) < count:
        if candidates:
            base = candidates.pop()
        else:
            number += 1
            base = f"{rng.choice(TAG_WORDS)} {number}"
        name = rng.choice(styles)(base) if len(base) > 4 or rng.random() < 0.5 else base.upper()
        slug = slugify(name, allow_unicode=True)
        if name.lower() in seen or slug in seen or not slug:
            continue
        seen.update({name.lower(), slug})
        names.append((name, slug))
    return names


class Command(BaseCommand):
    help = (
        "Fill an empty database with generated case studies for benchmarking (make bench): "
        "deterministic, realistic bodies rendered by the real pipeline, indexed for search."
    )

    def add_arguments(self, parser):
        parser.add_argument("--studies", type=int, default=10_000, help="How many studies (default 10000).")
        parser.add_argument("--tags", type=int, default=500, help="How many tags (default 500).")
        parser.add_argument(
            "--bodies",
            type=int,
            default=2_000,
            help="Distinct bodies the studies share (default 2000; as many as --studies: all distinct).",
        )
        parser.add_argument("--seed", type=int, default=1, help="Random seed (default 1).")

    def handle(self, studies, tags, bodies, seed, verbosity, **options):
        if min(studies, tags, bodies) < 1:
            raise CommandError("--studies, --tags and --bodies must be 1 or more.")
        if CaseStudy.objects.exists() or Tag.objects.exists():
            raise CommandError(
                "The database already has case studies or tags; seed_bench fills only an empty one "
                "(bin/bench makes a scratch database under /tmp)."
            )
        rng = random.Random(seed)  # noqa: S311 - made-up content, nothing secret
        writer = Writer(rng)
        # Written and rendered on first use: (body, RenderedBody, reading minutes).
        rendered_bodies = []
        now = timezone.now()
        show = verbosity > 0 and sys.stderr.isatty()
        bar = tqdm(
            total=studies, desc="Seeding", unit="study", file=sys.stderr, disable=not show, leave=False
        )

        with transaction.atomic():
            names = tag_names(rng, tags)
            all_tags = Tag.objects.bulk_create(Tag(name=name, slug=slug) for name, slug in names)
            # Zipf-like popularity: a few tags on many studies, most on a few.
            tag_weights = list(itertools.accumulate(1 / (rank + 1) ** 0.9 for rank in range(len(all_tags))))
            slugs_taken = set()
            for start in range(0, studies, BATCH_SIZE):
                batch, batch_tags = [], []
                for number in range(start, min(start + BATCH_SIZE, studies)):
                    title = writer.title()
                    slug = slugify(title)[:180].strip("-") or "study"
                    if slug in slugs_taken:
                        slug = f"{slug}-{number}"
                    slugs_taken.add(slug)
                    if number < bodies:
                        body = writer.body()
                        rendered_bodies.append((body, render_markdown(body), reading_minutes(body)))
                    body, rendered, minutes = rendered_bodies[number % bodies]
                    roll = rng.random()
                    if roll < DRAFT_SHARE:
                        status = CaseStudy.Status.DRAFT
                        published_at = now - timedelta(days=rng.uniform(0, 60))
                    elif roll < DRAFT_SHARE + SCHEDULED_SHARE:
                        status, published_at = (
                            CaseStudy.Status.PUBLISHED,
                            now + timedelta(days=rng.uniform(1, 120)),
                        )
                    else:
                        status = CaseStudy.Status.PUBLISHED
                        published_at = now - timedelta(days=rng.uniform(0, 365 * YEARS))
                    batch.append(
                        CaseStudy(
                            title=title,
                            slug=slug,
                            summary=" ".join(writer.sentence() for _ in range(2))[:500],
                            body=body,
                            body_html=rendered.html,
                            toc_html=rendered.toc_html,
                            reading_minutes=minutes,
                            status=status,
                            published_at=published_at,
                            repository_url=f"https://example.com/{slug}" if rng.random() < 0.4 else "",
                            role=rng.choice(["", "", "Lead engineer", "Staff engineer", "Consultant"]),
                            team_size=rng.choice([None, None, 2, 3, 4, 6, 8]),
                        )
                    )
                    count = min(len(all_tags), rng.choice([1, 2, 3, 3, 4, 4, 5]))
                    chosen = set()
                    while len(chosen) < count:
                        chosen.add(rng.choices(range(len(all_tags)), cum_weights=tag_weights)[0])
                    batch_tags.append(sorted(chosen))
                created = CaseStudy.objects.bulk_create(batch)
                TaggedCaseStudy.objects.bulk_create(
                    TaggedCaseStudy(content_object=study, tag=all_tags[index])
                    for study, indexes in zip(created, batch_tags, strict=True)
                    for index in indexes
                )
                bar.update(len(batch))
            bar.close()
            # bulk_create sends no signals: index the new studies as migrate's post_migrate hook does.
            search.sync_index()

        if verbosity:
            published = CaseStudy.objects.published().count()
            words = sum(len(body.split()) for body, _, _ in rendered_bodies) // len(rendered_bodies)
            self.stdout.write(
                f"{studies} studies ({published} public) with {len(all_tags)} tags; "
                f"{len(rendered_bodies)} distinct bodies of about {words} words."
            )
