"""``python -m tests.integration.runtime.server_app PORT`` serves the small test app
(``worker_app``) through ``services.runtime.server.run`` with short limits, as a service would."""

from __future__ import annotations

import json
import os
import sys

from sigstack.protocol.errors import Error
from sigstack.services.runtime.server import Limits, run


def _factory():  # type: ignore[no-untyped-def]
    from tests.integration.runtime.worker_app import app

    return app


def main() -> None:
    options = json.loads(os.environ.get("TEST_SERVER_OPTIONS", "{}"))
    limits = Limits(header_timeout=options.get("header_timeout", 2.0),
                    body_timeout=options.get("body_timeout", 2.0),
                    max_connections=options.get("max_connections", 256),
                    graceful_timeout=options.get("graceful_timeout", 10))  # fmt: skip
    try:
        run(_factory, host="127.0.0.1", port=int(sys.argv[1]), workers=1,
            threads=options.get("threads", 4), max_body_bytes=1024, limits=limits)  # fmt: skip
    except Error as exc:  # as the sigstack front door does
        print(f"Error: {exc.message}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
