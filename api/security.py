"""Who is calling: API tokens (kept hashed by store/tokens.py), signed customer signoff links,
and signed session cookies for the pages. The help desk's signed webhooks are checked by
intake/signed_webhook.py.

Everything here is a pure function of its inputs and the store; the HTTP layer maps the
exceptions to status codes.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.engine import Engine

from billing.roles import Role

# Signing, secrets and signoff links live in the store layer, where the notification activities
# (which e-mail the customer's link) can use them too; the API names them from here.
from store.signing import Unauthorized as Unauthorized
from store.signing import claimed_link_id as claimed_link_id
from store.signing import secret as secret
from store.signing import sign as sign
from store.signing import unsign as unsign
from store.signoff_links import SignoffGrant as SignoffGrant
from store.signoff_links import issue_signoff_link as issue_signoff_link
from store.signoff_links import read_signoff_link as read_signoff_link
from store.signoff_links import release_signoff_link as release_signoff_link
from store.signoff_links import use_signoff_link as use_signoff_link
from store.tokens import token_owner

SESSION_TTL = timedelta(hours=12)


# ---- API tokens --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Principal:
    """Whoever a request acts for: a token's name and role (or a customer's signoff link)."""

    name: str
    role: Role
    token_id: int | None = None  # the API token it came from (a page session re-checks it)


def authenticate(engine: Engine, token: str) -> Principal:
    owner = token_owner(engine, token)
    if owner is None:
        raise Unauthorized("unknown or revoked API token")
    return Principal(owner.name, owner.role, owner.token_id)


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise Unauthorized("send 'Authorization: Bearer <API token>'")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("the Authorization header must be 'Bearer <API token>'")
    return token.strip()


def same_secret(given: str, expected: str) -> bool:
    """Whether a presented secret (a CSRF value, a form token) is the expected one, in constant
    time. Compared as UTF-8 bytes: ``hmac.compare_digest`` refuses ``str`` with non-ASCII
    characters (a TypeError, so a 500), and whatever a client sends is merely wrong."""
    return hmac.compare_digest(
        given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )
