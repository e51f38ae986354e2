"""The README's SQLite backup recipe, end to end: an online backup of a site that is serving, restored
to a fresh path, serves the same site, old addresses included."""

import subprocess
import sys

import pytest

from tests.test_serving import BASE_DIR, fetch, manage, serve, site_env

pytestmark = pytest.mark.served

# The README's recipe, both ways (backup: the live database to a file; restore: a file into a
# database path). SQLite's online backup API, through Python's sqlite3, so it needs no `sqlite3`
# program: it copies a consistent snapshot while the site keeps reading and writing.
COPY_DATABASE = (
    "import sqlite3, sys; s, d = sqlite3.connect(sys.argv[1]), sqlite3.connect(sys.argv[2]); "
    "s.backup(d); d.close(); s.close()"
)


def copy_database(source, target):
    subprocess.run([sys.executable, "-c", COPY_DATABASE, str(source), str(target)], cwd=BASE_DIR, check=True)


def test_an_online_sqlite_backup_restored_to_a_fresh_path_serves_the_same_site(tmp_path):
    live = site_env(tmp_path / "live")
    backup = tmp_path / "backup.sqlite3"
    rename = (
        "from casestudies.models import CaseStudy; s = CaseStudy.objects.get(slug='securevault'); "
        "s.slug = 'the-vault'; s.title = 'The Vault, as backed up'; s.save()"
    )
    with serve(live) as base_url:
        manage(live, "shell", "-c", rename)
        assert fetch(base_url + "/case-studies/securevault/")[0] == 301
        # While the site serves: that is what an online backup is for.
        copy_database(tmp_path / "live" / "var" / "db.sqlite3", backup)

    restored = site_env(tmp_path / "restored")
    (tmp_path / "restored" / "var").mkdir(parents=True)
    copy_database(backup, tmp_path / "restored" / "var" / "db.sqlite3")

    with serve(restored) as base_url:
        status, _, body = fetch(base_url + "/case-studies/the-vault/")
        assert status == 200
        assert "The Vault, as backed up" in body.decode()
        status, headers, _ = fetch(base_url + "/case-studies/securevault/")
        assert status == 301
        assert headers["Location"] == "/case-studies/the-vault/"
        # The restored studies, not the seed loaded afresh beside them.
        assert fetch(base_url + "/case-studies/")[2].decode().count('class="card"') == 7
