"""Local development tools: a Temporal dev server, the local stack `make demo` runs, a
throwaway PostgreSQL for the tests, and the demo's API tokens. Never used in production."""
