# The full-text index of the studies (casestudies/search.py): one table under one name,
# made the way each database searches best. Django never manages it (SearchDocument is
# unmanaged), so later migrations of CaseStudy cannot trip over a GIN index on SQLite or
# an FTS5 table anywhere. Studies that exist when this runs are indexed just after
# `migrate`, by search.sync_index (contentchanges.after_migrate, a post_migrate receiver).

import django.db.models.deletion
from django.db import migrations, models

TABLE_SQL = {
    # No foreign key: `flush` truncates the study table without knowing this one.
    "postgresql": [
        """
        CREATE TABLE casestudies_search (
            study_id bigint PRIMARY KEY,
            search_vector tsvector NOT NULL DEFAULT ''
        )
        """,
        "CREATE INDEX casestudies_search_vector ON casestudies_search USING gin (search_vector)",
        # Vectors compressed in the table's own pages rather than out of line in TOAST:
        # ranking reads every match's vector, three times faster so at 10,000 studies, and
        # the planner sees the table's real size when it weighs reading it all.
        "ALTER TABLE casestudies_search ALTER search_vector SET STORAGE MAIN",
        "ALTER TABLE casestudies_search SET (toast_tuple_target = 8160)",
    ],
    # Words arrive lowercased with stop words removed (search.words); FTS5 stems them.
    # A row's rowid is its study's id too, so that writing an entry replaces the old one,
    # but queries join on study_id, which FTS5 cannot look up: SQLite then runs the
    # full-text query once and fetches the studies it found, rather than walking every
    # published study and running the query again for each (500 ms at 10,000 studies).
    # `rank` is bm25 weighted as PostgreSQL's ts_rank weighs A, B and C: 1.0, 0.4, 0.2.
    "sqlite": [
        """
        CREATE VIRTUAL TABLE casestudies_search USING fts5(
            study_id UNINDEXED, title, summary, body,
            tokenize = 'porter unicode61 remove_diacritics 0'
        )
        """,
        "INSERT INTO casestudies_search (casestudies_search, rank) VALUES ('rank', 'bm25(0, 1.0, 0.4, 0.2)')",
    ],
}


def create_table(apps, schema_editor):
    for sql in TABLE_SQL.get(schema_editor.connection.vendor, []):
        schema_editor.execute(sql)


def drop_table(apps, schema_editor):
    if schema_editor.connection.vendor in TABLE_SQL:
        schema_editor.execute("DROP TABLE IF EXISTS casestudies_search")


class Migration(migrations.Migration):

    dependencies = [
        ('casestudies', '0003_social_cards'),
    ]

    operations = [
        migrations.CreateModel(
            name='SearchDocument',
            fields=[
                ('study', models.OneToOneField(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, primary_key=True, related_name='search_document', serialize=False, to='casestudies.casestudy')),
            ],
            options={
                'db_table': 'casestudies_search',
                'managed': False,
            },
        ),
        migrations.RunPython(create_table, drop_table),
    ]
