"""How a finished workflow is worded in one line: the outcome and its message, without
saying the same thing twice (the console's notification after each workflow)."""

from __future__ import annotations

from spfp_console.session.presentation import workflow_outcome


def test_a_message_that_restates_the_outcome_replaces_it():
    assert workflow_outcome("rollback", "not_confirmed",
                            "not confirmed: nothing was rolled back") == (
        "rollback: not confirmed: nothing was rolled back")


def test_a_message_ending_in_the_outcomes_consequence_takes_its_place():
    assert workflow_outcome(
        "deploy", "already_applied",
        "version 20260216 is already recorded in Supabase's migration history and every"
        " object exists: nothing was run") == (
        "deploy: already applied and recorded: version 20260216 is already recorded in"
        " Supabase's migration history and every object exists: nothing was run")


def test_a_rolled_back_outcome_keeps_the_cause_and_drops_the_repeated_consequence():
    assert workflow_outcome("deploy", "failed",
                            "3 failing statement(s); nothing was changed") == (
        "deploy: FAILED: the transaction was rolled back, nothing changed"
        " (3 failing statement(s))")


def test_a_message_that_adds_something_stays_in_brackets():
    assert workflow_outcome("validate", "validation_failed", "2 of 9 tables fail") == (
        "validate: validation FAILED (2 of 9 tables fail)")
    assert workflow_outcome("deploy", "committed") == "deploy: committed; validation passed"
