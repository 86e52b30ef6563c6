"""The service's own store (sqlmodel): projections, audit log, API tokens, and the embedded
connectors' data; and the billing book file as activities and pages read it."""
