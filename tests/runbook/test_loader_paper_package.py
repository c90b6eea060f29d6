"""The paper package as runbook data: troubleshooting guide, timeline, success criteria,
contacts.  The shipped runbook carries the paper's; a malformed entry is refused with
file:line: field like every other runbook error."""

from __future__ import annotations

from pathlib import Path

import pytest

from spfp_console.paths import DEFAULT_RUNBOOK
from spfp_console.runbook import RunbookError, load_runbook
from spfp_console.runbook.model import Estimate, parse_estimate

BASE = """\
[runbook]
id = "t"
title = "T"

[scripts]
migration = "m.sql"
rollback = "m.sql"

[[phases]]
id = "pre"
title = "Pre"

[[phases.items]]
id = "a"
text = "A"

[[checks]]
id = "index:idx_a"
kind = "index"
name = "idx_a"
table = "a"
definition = "CREATE INDEX idx_a ON public.a USING btree (x)"

[[troubleshooting]]
sqlstate = "23505"
title = "Unique violation"
cause = "duplicates"
action = "clean them"

[[timeline]]
phase = "pre"
title = "Checks"
estimate = "5-10min"

[[success_criteria]]
id = "indexes"
text = "All indexes created"
proven_by = ["check:index:*", "run"]

[[contacts]]
role = "CTO"
escalation = 3
"""


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "m.sql").write_text("SELECT 1;\n")
    path = tmp_path / "rb.toml"
    path.write_text(text)
    return path


def _line(text: str, needle: str) -> int:
    """The file line of the first line that starts with ``needle``."""
    return next(n for n, line in enumerate(text.splitlines(), 1) if line.startswith(needle))


def _error(tmp_path: Path, text: str) -> RunbookError:
    with pytest.raises(RunbookError) as info:
        load_runbook(_write(tmp_path, text))
    return info.value


def test_the_shipped_runbook_carries_the_paper_package():
    rb = load_runbook(DEFAULT_RUNBOOK)
    guide = {e.sqlstate: e for e in rb.troubleshooting}
    assert {"23505", "42P07", "42710", "42883", "42501", "57014", "55P03"} <= set(guide)
    assert "update_updated_at_column()" in guide["42883"].cause
    assert guide["23505"].paper.startswith("Constraint violation")
    assert [(t.phase, t.title, t.estimate) for t in rb.timeline] == [
        ("pre-deployment", "Pre-deployment checks", "5min"),
        ("pre-deployment", "Database backup", "5-10min"),
        ("execution", "Migration execution", "30-60s"),
        ("post-deployment", "Post-deployment validation", "10-15min"),
        ("post-deployment", "Application monitoring", "30+min"),
    ]
    assert len(rb.success_criteria) == 10  # the paper's ten, each with a proof
    assert all(c.proven_by for c in rb.success_criteria)
    contacts = {c.role: c for c in rb.contacts}
    assert (contacts["DevOps Engineer"].name, contacts["DevOps Engineer"].reach) == (
        "Gage", "Slack #devops-deployment")
    assert (contacts["CTO"].name, contacts["CTO"].escalation) == ("", 3)  # role only


def test_a_runbook_with_the_package_loads(tmp_path):
    rb = load_runbook(_write(tmp_path, BASE))
    assert rb.troubleshooting[0].sqlstate == "23505"
    assert rb.success_criteria[0].proven_by == ("check:index:*", "run")
    assert rb.contacts[0].escalation == 3


def test_a_runbook_without_it_still_loads(tmp_path):
    text = BASE.split("[[troubleshooting]]")[0]
    rb = load_runbook(_write(tmp_path, text))
    assert (rb.troubleshooting, rb.timeline, rb.success_criteria, rb.contacts) == (
        (), (), (), ())


@pytest.mark.parametrize("sqlstate", ["2350", "235050", "23-05", "42p07"])
def test_an_sqlstate_that_is_not_five_characters_is_refused(tmp_path, sqlstate):
    text = BASE.replace('sqlstate = "23505"', f'sqlstate = "{sqlstate}"')
    err = _error(tmp_path, text)
    line = _line(text, "sqlstate =")
    assert err.line == line and err.key == "troubleshooting[0].sqlstate"
    assert str(err).startswith(f"{err.path}:{line}: troubleshooting[0].sqlstate: "
                               f"'{sqlstate}' is not an SQLSTATE")


def test_an_sqlstate_written_as_a_number_is_refused_with_its_line(tmp_path):
    err = _error(tmp_path, BASE.replace('sqlstate = "23505"', "sqlstate = 23505"))
    assert (err.line, err.key) == (_line(BASE, "sqlstate ="), "troubleshooting[0].sqlstate")
    assert "must be a string" in str(err)


def test_a_guide_entry_missing_its_action_names_the_field(tmp_path):
    err = _error(tmp_path, BASE.replace('action = "clean them"\n', ""))
    # the entry's header line: the field is not in the file
    assert err.key == "troubleshooting[0].action"
    assert err.line == _line(BASE, "[[troubleshooting]]")
    assert "is required but missing" in str(err)


def test_an_unknown_key_in_a_guide_entry(tmp_path):
    text = BASE.replace('action = "clean them"', 'action = "x"\nfix = "y"')
    err = _error(tmp_path, text)
    assert (err.key, err.line) == ("troubleshooting[0].fix", _line(text, "fix ="))


def test_two_entries_for_one_sqlstate(tmp_path):
    twice = BASE.replace("[[timeline]]", '[[troubleshooting]]\nsqlstate = "23505"\n'
                         'title = "t"\ncause = "c"\naction = "a"\n\n[[timeline]]')
    err = _error(tmp_path, twice)
    assert err.key == "troubleshooting[1].sqlstate" and "duplicate id '23505'" in str(err)


def test_a_timeline_row_of_an_unknown_phase(tmp_path):
    err = _error(tmp_path, BASE.replace('phase = "pre"', 'phase = "post"'))
    assert (err.key, err.line) == ("timeline[0].phase", _line(BASE, "phase ="))
    assert "'post', which is not a phase of this runbook (pre)" in str(err)


@pytest.mark.parametrize("estimate", ["soon", "10-5min", "5 minutes", "5-10+min"])
def test_a_timeline_estimate_that_is_not_a_duration(tmp_path, estimate):
    err = _error(tmp_path, BASE.replace('estimate = "5-10min"', f'estimate = "{estimate}"'))
    assert (err.key, err.line) == ("timeline[0].estimate", _line(BASE, "estimate ="))
    assert "write 5min, 5-10min, 30-60s or 30+min" in str(err)


@pytest.mark.parametrize(("proof", "problem"), [
    ("check:view:*", "matches none of this runbook's [[checks]] ids"),
    ("query:kanban", "matches none of this runbook's [[queries]] ids"),
    ("item:pre/zz", "names no phase/item of this runbook"),
    ("validation", "is not a proof: write check:GLOB"),
])
def test_a_criterion_proof_that_proves_nothing(tmp_path, proof, problem):
    err = _error(tmp_path, BASE.replace('"check:index:*", "run"', f'"run", "{proof}"'))
    assert (err.key, err.line) == ("success_criteria[0].proven_by[1]",
                                   _line(BASE, "proven_by ="))
    assert problem in str(err)


def test_a_contact_without_a_role_or_with_step_zero(tmp_path):
    err = _error(tmp_path, BASE.replace('role = "CTO"\n', 'name = "Ann"\n'))
    assert err.key == "contacts[0].role" and err.line == _line(BASE, "[[contacts]]")
    err = _error(tmp_path, BASE.replace("escalation = 3", "escalation = 0"))
    assert (err.key, err.line) == ("contacts[0].escalation", _line(BASE, "escalation ="))
    assert "must be 1 or more" in str(err)


def test_estimates_parse_and_add():
    assert parse_estimate("5min") == Estimate(300, 300)
    assert parse_estimate("30-60s") == Estimate(30, 60)
    assert parse_estimate("30+min") == Estimate(1800, None)
    assert parse_estimate("5-10min") + parse_estimate("5min") == Estimate(600, 900)  # type: ignore[operator]
    assert parse_estimate("5min") + parse_estimate("30+min") == Estimate(2100, None)  # type: ignore[operator]
    assert parse_estimate("ten minutes") is None
