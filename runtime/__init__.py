"""The running service's wiring: connecting to Temporal (client, data converter, encryption),
telemetry, the search attributes and schedules a deployment needs, and the worker's parts."""
