"""`python -m incidents_common.natsauth …`"""

import sys

from incidents_common.natsauth.cli import main

sys.exit(main())
