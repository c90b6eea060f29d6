"""Deterministic sample data for the SPFP schema, loaded with COPY.

``load_sample_data(dsn, scale=1)`` fills every table (about 100k rows per unit of scale)
so the migration can be rehearsed and its performance claims measured on realistic data.
"""

from __future__ import annotations

from spfp_console.sampledata.generator import DEFAULT_SEED, TABLES, SampleDataset
from spfp_console.sampledata.loader import SampleDataError, SampleDataReport, load_sample_data

__all__ = [
    "DEFAULT_SEED",
    "TABLES",
    "SampleDataError",
    "SampleDataReport",
    "SampleDataset",
    "load_sample_data",
]
