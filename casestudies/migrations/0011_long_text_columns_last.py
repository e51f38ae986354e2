from django.db import migrations

# The columns that can run to many kilobytes, in the order they go to the end of a row.
LONG_TEXT = ["summary", "card_html", "toc_html", "body_html", "body"]


class MoveLongTextLast(migrations.operations.base.Operation):
    """Rebuild the case study table, on SQLite, with its long text columns last.

    SQLite stores a row's columns in order and reads through every column before the
    one it wants, spilling into overflow pages: with the body ahead of them, checking
    a study's status and date by its id (a search's matches, the sitemap) read the
    body too. PostgreSQL keeps long values out of line, so it has nothing to do.
    The migration state takes the new order too, so a later rebuild keeps it.
    """

    reversible = True

    def state_forwards(self, app_label, state):
        model_state = state.models[app_label, "casestudy"]
        fields = model_state.fields
        short = {name: field for name, field in fields.items() if name not in LONG_TEXT}
        model_state.fields = short | {name: fields[name] for name in LONG_TEXT}
        state.reload_model(app_label, "casestudy", delay=True)

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "sqlite":
            # The schema editor's own table rebuild (what an altered field on SQLite
            # gets), here in the new order: data, indexes and constraints carried over.
            schema_editor._remake_table(to_state.apps.get_model(app_label, "casestudy"))

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        # Any column order works: nothing to undo.
        pass

    def describe(self):
        return "Move the case study table's long text columns after the short ones (SQLite)"


class Migration(migrations.Migration):
    dependencies = [
        ("casestudies", "0010_slug_help_and_tag_name_message"),
    ]

    operations = [MoveLongTextLast()]
