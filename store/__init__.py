"""The service's own store (sqlmodel): projections, audit log, and the embedded connectors' data."""
