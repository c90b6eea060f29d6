"""Throwaway local PostgreSQL clusters (tests, demo, scratch rehearsal)."""

from __future__ import annotations

from spfp_console.localpg.cluster import ClusterError, LocalCluster, find_server_bindir

__all__ = ["ClusterError", "LocalCluster", "find_server_bindir"]
