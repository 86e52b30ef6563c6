"""The types that cross boundaries: what workflows, activities, the intake, the store and the
API send each other through Temporal or keep in the review store. Pure data over the billing
package's types, below every layer that uses them (see ``[tool.importlinter]`` in
pyproject.toml)."""
