"""API tokens for the demo's people, so the pages can be tried at once. They are kept (readable
by their owner only) beside the other local secrets, so a second `make demo` shows them again;
a real deployment makes its tokens with `starter.py tokens add`."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy.engine import Engine

from billing.roles import Role
from settings import Settings
from store.private_files import write_private_text
from store.tokens import issue_token, revoke_token, token_owner

# The operator reads the outbox (/notifications) and the health of the integration.
DEMO_ROLES = (Role.FINANCE, Role.MANAGER, Role.SUPPORT, Role.OPERATOR)


def demo_tokens(settings: Settings, engine: Engine) -> dict[Role, str]:
    path = settings.secrets_dir / "demo-tokens.json"
    try:
        saved = {Role(role): token for role, token in json.loads(path.read_text()).items()}
    except (FileNotFoundError, ValueError):
        saved = {}
    tokens: dict[Role, str] = {}
    for role in DEMO_ROLES:
        token = saved.get(role)
        if token is not None and _works(engine, token):
            tokens[role] = token
            continue
        name = f"demo-{role.value}"
        revoke_token(engine, name)  # a stale one (another store, or lost): replace it
        tokens[role] = issue_token(engine, name, role)
    write_private_text(path, json.dumps({role.value: t for role, t in tokens.items()}, indent=2))
    # One file per role too, for the commands' --token-file (a decision acts as its token).
    for role, token in tokens.items():
        write_private_text(demo_token_file(settings, role), token + "\n")
    return tokens


def demo_token_file(settings: Settings, role: Role) -> Path:
    return settings.secrets_dir / f"demo-{role.value}.token"


def _works(engine: Engine, token: str) -> bool:
    return token_owner(engine, token) is not None
