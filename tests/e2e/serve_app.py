"""Serves the app with the /video namespace for the browser tests: `python -m tests.e2e.serve_app PORT`.

Settings come from CC_* environment variables, as in production.
"""

from __future__ import annotations

import sys

import uvicorn

from command_center.app import create_app
from command_center.logging import configure_logging
from command_center.settings import get_settings
from realtime.video import install


def main() -> None:
    settings = get_settings()
    configure_logging(level=settings.log_level, json_lines=False)
    app = create_app(settings)
    install(app)
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_config=None, timeout_graceful_shutdown=10)


if __name__ == "__main__":
    main()
