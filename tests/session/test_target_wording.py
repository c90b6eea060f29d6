"""How a target is named where a line can be cut at 80 columns (the console's header,
the confirmation dialogs' titles): the database first, then ``user@host:port``."""

from __future__ import annotations

from spfp_console.session.presentation import database_and_server


def test_a_target_splits_into_its_database_and_its_server():
    assert database_and_server("alice@db.example:5432/app") == ("app", "alice@db.example:5432")
    # a socket directory has slashes of its own: the database is after the last one
    assert database_and_server("bob@/var/run/postgresql:5432/spfp") == (
        "spfp", "bob@/var/run/postgresql:5432")
    assert database_and_server("not connected") == ("not connected", "")
    assert database_and_server("alice@db:5432/") == ("alice@db:5432/", "")
