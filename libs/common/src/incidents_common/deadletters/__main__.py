"""`python -m incidents_common.deadletters …`"""

import sys

from incidents_common.deadletters.cli import main

sys.exit(main())
