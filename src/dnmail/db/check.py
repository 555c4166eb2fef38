"""`python -m dnmail.db.check [URL]`: fail when the models and the migrations disagree
(alembic check), on a throw-away SQLite database unless a URL is given."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path


def main(argv: list[str]) -> int:
    from dnmail.db import migrate
    from dnmail.db.session import make_engine

    with tempfile.TemporaryDirectory() as tmp:
        url = argv[0] if argv else f"sqlite:///{Path(tmp) / 'check.db'}"
        engine = make_engine(url)
        migrate.upgrade(engine)
        try:
            migrate.check(engine)
        except Exception as e:  # report whatever alembic says
            print(f"models and migrations disagree: {e}", file=sys.stderr)
            return 1
        finally:
            engine.dispose()
    print("models and migrations agree", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
