"""Full-text search of the studies: what `?q=` finds, best first, with its matches marked.

Each study has one entry in the index (SearchDocument, table `casestudies_search`) in
three weighted parts: title and tags (A), summary (B), body text (C). Migration 0004
makes the table each database needs: on PostgreSQL a tsvector with a GIN index, scored
by ts_rank; on SQLite an FTS5 table, scored by bm25 with the same weights (1.0, 0.4,
0.2). `BACKENDS` is the one place where the two differ.

A study's rank is the best part any query word is in (2 title or tags, 1 summary, 0
body) plus the database's score squeezed below 1. The part comes first because bm25
weighs a column's matches against the length of the whole study: weights alone would
let a short body that repeats a word outrank a long study with the word in its title.

Words are found here, in Python, the same way for what is indexed and what is asked:
runs of letters and digits, lowercased, PostgreSQL's English stop words left out. So
both databases index the same words and differ only in their stemmers, and what a
visitor types never reaches a query parser as typed: each word is quoted on its own,
so quotes, operators, NUL or 10 KB of text cannot make a query fail. Every word must
match, in any of its forms ("caching" finds "cached"). A word is not matched by its
start: both databases would stem the start first ("ops" to "op", which starts "open"),
and PostgreSQL's planner, unable to tell how much of its index a prefix covers, turns
to reading every entry instead.

The index is written in the same transaction as the change it follows, by
casestudies/contentchanges.py, so it never disagrees with a committed study. It is
written and matched in SQL of each database's own (the backends below): the table
differs by database and is unmanaged, so the ORM has no columns to write it with, and
it has no way to say FTS5's MATCH at all.
"""

import re
from collections import defaultdict
from html.parser import HTMLParser

from django.apps import apps as global_apps
from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVectorField
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Case, F, FloatField, Func, Lookup, TextField, Value, When
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe

from casestudies.models import SearchDocument

# PostgreSQL's text-search configuration; SQLite's FTS5 table stems with Porter's English.
CONFIG = "english"
TABLE = SearchDocument._meta.db_table
# Of title and tags (A), summary (B) and body (C): ts_rank's defaults, and bm25's in migration 0004.
WEIGHTS = {"A": 1.0, "B": 0.4, "C": 0.2}
# Long enough for any real question; the rest of a longer one is not read.
MAX_QUERY_LENGTH = 200
MAX_TERMS = 10
# Highlighting marks a word by its start when a term is at least this long.
MIN_MARKED_START = 4
WORD = re.compile(r"[^\W_]+")
# PostgreSQL's english.stop, so that both databases leave out the same words.
STOP_WORDS = frozenset({
    "i", "me", "my", "myself", "we", "our", "ours", "ourselves", "you", "your", "yours",
    "yourself", "yourselves", "he", "him", "his", "himself", "she", "her", "hers", "herself",
    "it", "its", "itself", "they", "them", "their", "theirs", "themselves", "what", "which",
    "who", "whom", "this", "that", "these", "those", "am", "is", "are", "was", "were", "be",
    "been", "being", "have", "has", "had", "having", "do", "does", "did", "doing", "a", "an",
    "the", "and", "but", "if", "or", "because", "as", "until", "while", "of", "at", "by",
    "for", "with", "about", "against", "between", "into", "through", "during", "before",
    "after", "above", "below", "to", "from", "up", "down", "in", "out", "on", "off", "over",
    "under", "again", "further", "then", "once", "here", "there", "when", "where", "why",
    "how", "all", "any", "both", "each", "few", "more", "most", "other", "some", "such", "no",
    "nor", "not", "only", "own", "same", "so", "than", "too", "very", "s", "t", "can", "will",
    "just", "don", "should", "now",
})  # fmt: skip
# A save that changes none of these leaves the study's entry as it is.
INDEXED_FIELDS = frozenset({"title", "summary", "body", "body_html"})
BATCH_SIZE = 500


def words(text):
    """The searchable words of a text, in order: runs of letters and digits, lowercased, no stop words."""
    return [word for word in WORD.findall(text.lower()) if word not in STOP_WORDS]


def search_terms(query):
    """The words a query searches for: each once, in the order typed, at most MAX_TERMS.

    Empty for a query with nothing to search for (blank, punctuation, only stop words).
    """
    return list(dict.fromkeys(words((query or "")[:MAX_QUERY_LENGTH])))[:MAX_TERMS]


def search(queryset, query):
    """Narrow a CaseStudy queryset to the studies matching `query`, best first.

    Ties keep the usual order (newest first, then title). Each study carries its
    `search_rank`, higher for better: 2 and up when a word is in the title or tags, 1 and
    up in the summary, below 1 in the body only. A query with no words to search for
    leaves the queryset as it is. Chain it with published(), tag filters, with_tags()
    and a Paginator like any other queryset method: a page costs its count and its rows.
    """
    terms = search_terms(query)
    if not terms:
        return queryset
    # An inner join, so that the database starts from the index rather than every study.
    queryset = queryset.filter(search_document__isnull=False)
    queryset = backend(connections[queryset.db]).match(queryset, terms)
    return queryset.order_by("-search_rank", "-published_at", "title")


def highlight(text, query):
    """Plain text as safe HTML, each word the query searches for wrapped in <mark>.

    Words match the way search finds them, roughly: ignoring case, and by the start of
    the word ("cache" marks "caches" and "cached"; "caching" marks them too).
    """
    terms = search_terms(query)
    pieces = []
    unmarked_from = 0
    for match in WORD.finditer(text):
        word = match.group()
        if any(is_form_of(word.lower(), term) for term in terms):
            # Each piece is escaped on its own, so a mark never lands inside an entity.
            pieces.append(escape(text[unmarked_from : match.start()]))
            pieces.append(format_html("<mark>{}</mark>", word))
            unmarked_from = match.end()
    pieces.append(escape(text[unmarked_from:]))
    return mark_safe("".join(pieces))  # noqa: S308 (every piece is escaped above)


def is_form_of(word, term):
    """Whether a lowercased word is, roughly, a form of a search term or starts with it."""
    if len(term) < MIN_MARKED_START:
        return word == term
    for ending in ("ing", "ies", "es", "ed", "ly", "s"):
        if term.endswith(ending) and len(term) - len(ending) >= MIN_MARKED_START:
            term = term[: -len(ending)]
            break
    return word.startswith(term)


# What is indexed


def document(title, tag_names, summary, body_html):
    """A study's three weighted parts as words: title and tags (A), summary (B), body text (C)."""
    return (
        " ".join(words(" ".join([title, *tag_names]))),
        " ".join(words(summary)),
        " ".join(words(text_of_html(body_html))),
    )


class TextOfHTML(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts = []

    def handle_data(self, data):
        self.parts.append(data)

    def handle_starttag(self, tag, attrs):
        # "latency<sup>1</sup>" is two words, not "latency1".
        self.parts.append(" ")

    def handle_endtag(self, tag):
        self.parts.append(" ")


def text_of_html(html):
    """The text of a rendered body: markup gone, entities decoded, code kept."""
    parser = TextOfHTML()
    parser.feed(html)
    parser.close()
    return "".join(parser.parts)


def index_studies(study_ids, *, apps=global_apps, using=DEFAULT_DB_ALIAS):
    """Write these studies' index entries afresh; drop those of studies that are gone.

    `apps` is a migration state's when called after `migrate` (see sync_index).
    """
    studies = apps.get_model("casestudies", "CaseStudy")._base_manager.using(using)
    links = apps.get_model("casestudies", "TaggedCaseStudy")._base_manager.using(using)
    study_ids = sorted(set(study_ids))
    for start in range(0, len(study_ids), BATCH_SIZE):
        batch = study_ids[start : start + BATCH_SIZE]
        tag_names = defaultdict(list)
        for study_id, name in (
            links.filter(content_object__in=batch).order_by("pk").values_list("content_object", "tag__name")
        ):
            tag_names[study_id].append(name)
        documents = {
            pk: document(title, tag_names[pk], summary, body_html)
            for pk, title, summary, body_html in studies.filter(pk__in=batch).values_list(
                "pk", "title", "summary", "body_html"
            )
        }
        with connections[using].cursor() as cursor:
            if documents:
                backend(connections[using]).write(cursor, documents)
            if gone := set(batch) - documents.keys():
                backend(connections[using]).drop(cursor, gone)


def drop_entries(study_ids, *, using=DEFAULT_DB_ALIAS):
    """Drop the entries of these studies (deleted ones)."""
    with connections[using].cursor() as cursor:
        backend(connections[using]).drop(cursor, study_ids)


def sync_index(*, apps=global_apps, using=DEFAULT_DB_ALIAS):
    """After `migrate` (and `flush`): index the studies missing from the index, drop stray entries."""
    try:
        entries = apps.get_model("casestudies", "SearchDocument")._base_manager.using(using)
    except LookupError:
        return  # migrated back to before the index existed
    studies = apps.get_model("casestudies", "CaseStudy")._base_manager.using(using)
    entries.exclude(study__in=studies.values("pk")).delete()
    missing = studies.exclude(pk__in=entries.values("pk")).values_list("pk", flat=True)
    index_studies(list(missing), apps=apps, using=using)


# The databases


class IndexColumn(Func):
    """A column of the index table, joined to a CaseStudy queryset as `search_document`
    (or, with entry="pk", in a SearchDocument queryset).

    Named here rather than declared on SearchDocument, since it differs by database.
    """

    def __init__(self, column, output_field, entry="search_document"):
        super().__init__(F(entry), output_field=output_field)
        self.column = column

    def as_sql(self, compiler, connection, **extra_context):
        [entry] = self.get_source_expressions()
        return f"{compiler.quote_name_unless_alias(entry.alias)}.{connection.ops.quote_name(self.column)}", []


class Matches(Lookup):
    """`<column> MATCH <query>`: FTS5's full-text condition."""

    lookup_name = "fts5_matches"

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} MATCH {rhs}", [*lhs_params, *rhs_params]


class PostgreSQL:
    """A weighted tsvector per study with a GIN index; ts_rank scores the matches."""

    UPSERT = (
        "INSERT INTO casestudies_search (study_id, search_vector) VALUES (%s, "
        "setweight(to_tsvector(%s::regconfig, %s), 'A') || "
        "setweight(to_tsvector(%s::regconfig, %s), 'B') || "
        "setweight(to_tsvector(%s::regconfig, %s), 'C')) "
        "ON CONFLICT (study_id) DO UPDATE SET search_vector = EXCLUDED.search_vector"
    )
    # D, C, B, A: no part is D.
    RANK_WEIGHTS = [0.1, WEIGHTS["C"], WEIGHTS["B"], WEIGHTS["A"]]

    @classmethod
    def write(cls, cursor, documents):
        cursor.executemany(
            cls.UPSERT,
            [(pk, CONFIG, a, CONFIG, b, CONFIG, c) for pk, (a, b, c) in documents.items()],
        )

    @staticmethod
    def drop(cursor, study_ids):
        cursor.executemany("DELETE FROM casestudies_search WHERE study_id = %s", [(pk,) for pk in study_ids])

    @classmethod
    def match(cls, queryset, terms):
        def tsquery(operator, weight=""):
            # to_tsquery syntax, each term quoted: `'word' & 'another'`; `'word':A` only in part A.
            quoted = [f"'{term}':{weight}" if weight else f"'{term}'" for term in terms]
            return SearchQuery(f" {operator} ".join(quoted), config=CONFIG, search_type="raw")

        query = tsquery("&")
        part = Case(
            When(search_vector=tsquery("|", "A"), then=Value(2.0)),
            When(search_vector=tsquery("|", "B"), then=Value(1.0)),
            default=Value(0.0),
        )
        # Normalization 32: rank / (rank + 1), from 0 up to 1.
        score = SearchRank(F("search_vector"), query, weights=cls.RANK_WEIGHTS, normalization=32)
        return (
            queryset.alias(search_vector=IndexColumn("search_vector", SearchVectorField()))
            .filter(search_vector=query)
            .annotate(search_rank=part + score)
        )


class SQLite:
    """An FTS5 table with a column per part; its `rank` is bm25 with the parts' weights."""

    @staticmethod
    def write(cursor, documents):
        # The rowid is the study's too, so that the new entry replaces the old.
        cursor.executemany(
            "INSERT OR REPLACE INTO casestudies_search (rowid, study_id, title, summary, body) "
            "VALUES (%s, %s, %s, %s, %s)",
            [(pk, pk, *parts) for pk, parts in documents.items()],
        )

    @staticmethod
    def drop(cursor, study_ids):
        # By rowid: FTS5 finds a row by study_id only by reading them all.
        cursor.executemany("DELETE FROM casestudies_search WHERE rowid = %s", [(pk,) for pk in study_ids])

    @staticmethod
    def match(queryset, terms):
        def fts5_query(operator):
            # FTS5 syntax, each term a quoted string: `"word" AND "another"`.
            return f" {operator} ".join(f'"{term}"' for term in terms)

        def in_part(column):
            # Entries with any of the words in that column.
            within = Matches(
                IndexColumn(TABLE, TextField(), entry="pk"), f"{{{column}}} : ({fts5_query('OR')})"
            )
            return SearchDocument.objects.filter(within).values("pk")

        part = Case(
            When(pk__in=in_part("title"), then=Value(2.0)),
            When(pk__in=in_part("summary"), then=Value(1.0)),
            default=Value(0.0),
        )
        # bm25 is lower (below zero) for better matches: 1 - 1 / (1 + bm25 score), from 0 up to 1.
        # Read as the `rank` column, not called as bm25(), it also works beside a window function.
        score = Value(1.0) - Value(1.0) / (Value(1.0) - IndexColumn("rank", FloatField()))
        # The column named like the table stands for all of its columns.
        everywhere = IndexColumn(TABLE, TextField())
        return queryset.filter(Matches(everywhere, fts5_query("AND"))).annotate(search_rank=part + score)


BACKENDS = {"postgresql": PostgreSQL, "sqlite": SQLite}


def backend(connection):
    try:
        return BACKENDS[connection.vendor]
    except KeyError:
        raise ImproperlyConfigured(
            f"Search works on PostgreSQL and SQLite, not on {connection.display_name}."
        ) from None
