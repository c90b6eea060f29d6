"""What a rehearsal leaves behind: sequence calls and other effects outside the
transaction, and the table locks it holds while it runs."""

from __future__ import annotations

from pathlib import Path

from spfp_console.engine.script_analysis import script_relations
from spfp_console.engine.rehearsal_effects import (
    irreversible_effects,
    rehearsal_locks,
    rehearsal_warning_table,
)
from spfp_console.engine.script import parse_script
from spfp_console.paths import MIGRATION_SQL


def _calls(text: str, **kwargs) -> list[tuple[str, str | None, int]]:
    script = parse_script(text, file="s.sql")
    return [(e.call, e.target, e.index) for e in irreversible_effects(script, **kwargs)]


def test_sequence_calls_in_statements_and_do_blocks() -> None:
    text = (
        "select nextval('public.a_seq');\n"
        "select pg_catalog.setval('b_seq'::regclass, 10, true);\n"
        "do $body$\n"
        "begin\n"
        "  -- nextval('in_a_comment') is not a call\n"
        "  raise notice 'setval(''in_a_string'')';\n"
        "  perform setval('c_seq', 1);\n"
        "end $body$;\n"
        "select 'nextval(x)' as text_not_a_call;\n"
    )
    assert _calls(text) == [
        ("nextval", "public.a_seq", 1),
        ("setval", "b_seq", 2),
        ("setval", "c_seq", 3),
    ]


def test_calls_and_commands_that_act_outside_the_transaction() -> None:
    text = (
        "select dblink_exec('remote', 'delete from t');\n"
        "select pg_advisory_lock(1);\n"
        "select pg_advisory_xact_lock(1);\n"  # transaction-level: released by rollback
        "copy (select 1) to '/tmp/out.csv';\n"
        "copy t from '/tmp/in.csv';\n"  # loads rows: rolled back with the transaction
    )
    assert _calls(text) == [
        ("dblink_exec", None, 1),
        ("pg_advisory_lock", None, 2),
        ("COPY TO", "/tmp/out.csv", 4),
    ]


def test_an_insert_into_a_serial_table_advances_its_sequence(base_db) -> None:
    with base_db.connect() as conn:
        conn.execute("create table public.numbered (id serial primary key, v text)")
        conn.execute("create table public.plain (v text)")
    text = "insert into public.numbered (v) values ('x');\ninsert into plain values ('y');\n"
    with base_db.connect() as conn:
        effects = irreversible_effects(parse_script(text), conn=conn)
    assert [(e.call, e.target, e.index) for e in effects] == [
        ("INSERT", "public.numbered_id_seq", 1)
    ]
    # without a connection the text alone cannot tell, and says nothing
    assert _calls(text) == []


def test_the_migration_has_no_irreversible_effect() -> None:
    from spfp_console.engine.script import load_script

    assert irreversible_effects(load_script(MIGRATION_SQL)) == []


def test_rehearsal_locks_are_the_preflight_locks_that_block_others() -> None:
    relations = script_relations(MIGRATION_SQL)
    locks = rehearsal_locks(MIGRATION_SQL)
    assert locks, "the migration alters tables"
    for lock in locks:
        schema, table = lock.relation.split(".")
        assert relations.locks[(schema, table)] == lock.mode
        assert (schema, table) not in relations.created
        assert lock.mode not in ("ACCESS SHARE", "ROW EXCLUSIVE")
    modes = [lock.mode for lock in locks]
    assert modes[0] == "ACCESS EXCLUSIVE"  # strongest first
    assert "public.sent_atas" in {lock.relation for lock in locks
                                  if lock.mode == "ACCESS EXCLUSIVE"}


def test_the_warning_table_lists_locks_and_effects(tmp_path: Path) -> None:
    path = tmp_path / "m.sql"
    path.write_text("alter table public.t add column c int;\nselect setval('s', 5);\n")
    script = parse_script(path.read_text(), file=str(path))
    table = rehearsal_warning_table(rehearsal_locks(path), irreversible_effects(script))
    assert table.title.startswith("Before rehearsing: 1 table lock(s)")
    assert "1 effect(s) a rollback cannot undo" in table.title
    assert table.rows[0][:2] == ("public.t", "ACCESS EXCLUSIVE lock until the rehearsal ends")
    assert table.rows[1][:2] == ("s", f"setval at {path}:2")


def test_lock_holders_names_who_the_rehearsal_would_wait_behind(base_db, tmp_path) -> None:
    from spfp_console.engine.rehearsal_effects import lock_holders

    path = tmp_path / "m.sql"
    path.write_text("alter table public.categories add column c int;\n")
    locks = rehearsal_locks(path)
    with base_db.connect() as observer:
        assert lock_holders(observer, locks) == []
        with base_db.connect() as app:
            app.execute("begin")
            app.execute("select count(*) from public.categories")
            pid = app.info.backend_pid
            (holder,) = lock_holders(observer, locks)
            app.execute("rollback")
    assert (holder.relation, holder.pid, holder.mode, holder.granted) == (
        "public.categories", pid, "ACCESS SHARE", True)
    assert holder.describe().startswith(f"pid {pid} (postgres) holds ACCESS SHARE since ")
    table = rehearsal_warning_table(locks, [], [holder])
    assert "1 lock(s) other sessions hold on those tables now" in table.title
    assert table.rows[1][0] == "public.categories"
    assert "waits behind it up to lock_timeout" in table.rows[1][2]
