"""Who may do what to a ticket: one matrix, enforced by the workflow and shown in the README."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    SUPPORT = "support"
    MANAGER = "manager"
    FINANCE = "finance"
    OPERATOR = "operator"  # read-only: inspects, never decides
    ADMIN = "admin"
    CUSTOMER = "customer"  # acts only through a signoff link, only on its own ticket


class Action(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    CUSTOMER_SIGNOFF = "customer_signoff"
    DISPUTE = "dispute"
    RESOLVE_DISPUTE = "resolve_dispute"
    MARK_NON_BILLABLE = "mark_non_billable"
    REVIEW = "review"
    RERATE = "rerate"
    HOLD_LINE = "hold_line"
    RELEASE_LINE = "release_line"
    DISPUTE_LINE = "dispute_line"
    RESOLVE_LINE_DISPUTE = "resolve_line_dispute"


ALLOWED: dict[Action, frozenset[Role]] = {
    Action.APPROVE: frozenset({Role.MANAGER, Role.ADMIN}),
    Action.REJECT: frozenset({Role.MANAGER, Role.ADMIN}),
    Action.CUSTOMER_SIGNOFF: frozenset({Role.CUSTOMER, Role.ADMIN}),
    Action.DISPUTE: frozenset({Role.SUPPORT, Role.MANAGER, Role.FINANCE, Role.ADMIN}),
    Action.RESOLVE_DISPUTE: frozenset({Role.MANAGER, Role.ADMIN}),
    # Support clears its own holds (a ticket closed with no time) this way; reports show it.
    Action.MARK_NON_BILLABLE: frozenset({Role.SUPPORT, Role.MANAGER, Role.FINANCE, Role.ADMIN}),
    Action.REVIEW: frozenset({Role.FINANCE, Role.ADMIN}),
    Action.RERATE: frozenset({Role.MANAGER, Role.FINANCE, Role.ADMIN}),
    # Finance works the month's pre-bill line by line; a customer questions a single line.
    Action.HOLD_LINE: frozenset({Role.FINANCE, Role.ADMIN}),
    Action.RELEASE_LINE: frozenset({Role.FINANCE, Role.ADMIN}),
    Action.DISPUTE_LINE: frozenset(
        {Role.SUPPORT, Role.MANAGER, Role.FINANCE, Role.ADMIN, Role.CUSTOMER}
    ),
    Action.RESOLVE_LINE_DISPUTE: frozenset({Role.MANAGER, Role.FINANCE, Role.ADMIN}),
}


def may(role: str, action: Action) -> bool:
    return role in ALLOWED[action]


def refusal(role: str, action: Action) -> str:
    allowed = ", ".join(sorted(ALLOWED[action]))
    return f"role {role!r} may not {action.value.replace('_', ' ')} (allowed: {allowed})"


MATRIX_ROLES = (Role.SUPPORT, Role.MANAGER, Role.FINANCE, Role.OPERATOR, Role.ADMIN, Role.CUSTOMER)


def role_matrix_markdown() -> str:
    """The README's table of who may do what, made from ``ALLOWED`` (a test keeps them equal)."""
    header = "| action | " + " | ".join(role.value for role in MATRIX_ROLES) + " |"
    rule = "|---|" + "---|" * len(MATRIX_ROLES)
    rows = [
        f"| `{action.value}` | "
        + " | ".join("yes" if role in ALLOWED[action] else "—" for role in MATRIX_ROLES)
        + " |"
        for action in Action
    ]
    return "\n".join([header, rule, *rows])
