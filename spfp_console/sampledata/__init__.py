"""Deterministic sample data for the SPFP schema, loaded with COPY.

``load_sample_data(dsn, scale=1)`` fills every table (about 100k rows per unit of scale)
so the migration can be rehearsed and its performance claims measured on realistic data.

The names below are imported on first use: the main CLI imports
``spfp_console.sampledata.cli`` to build its parser, which must not pull in psycopg.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from spfp_console.sampledata.generator import DEFAULT_SEED, TABLES, SampleDataset
    from spfp_console.sampledata.loader import (
        SampleDataError,
        SampleDataReport,
        load_sample_data,
    )

__all__ = [
    "DEFAULT_SEED",
    "TABLES",
    "SampleDataError",
    "SampleDataReport",
    "SampleDataset",
    "load_sample_data",
]

_HOME = {
    "DEFAULT_SEED": "generator",
    "TABLES": "generator",
    "SampleDataset": "generator",
    "SampleDataError": "loader",
    "SampleDataReport": "loader",
    "load_sample_data": "loader",
}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        from importlib import import_module

        return getattr(import_module(f"spfp_console.sampledata.{_HOME[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
