"""`python -m api_gateway …`: the admin command line."""

from api_gateway.cli import main

raise SystemExit(main())
