"""Wiring the service together: Temporal connection, telemetry, and the worker's parts."""
