"""``python -m store.migrations revision "what changed"``: autogenerate a revision file by
comparing the models with a scratch SQLite store migrated to the current head. Review it
(autogenerate misses renames and data changes), then set ``HEAD`` in ``__init__.py``."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from sqlalchemy import create_engine


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "revision":
        print('usage: python -m store.migrations revision "what changed"', file=sys.stderr)
        return 2
    from alembic import command
    from alembic.script import ScriptDirectory

    from store.migrations import alembic_config

    with tempfile.TemporaryDirectory() as scratch:
        engine = create_engine(f"sqlite:///{Path(scratch) / 'scratch.db'}")
        with engine.begin() as connection:
            config = alembic_config(connection)
            scripts = ScriptDirectory.from_config(config)
            if scripts.get_heads():
                command.upgrade(config, "head")
            number = len(list(scripts.walk_revisions())) + 1
            command.revision(config, argv[1], autogenerate=True, rev_id=f"{number:04d}")
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
