"""`python -m console`: serve the console (CONSOLE_GATEWAY_URL, CONSOLE_HOST, CONSOLE_PORT)."""

import sys

from console.cli import main

sys.exit(main())
