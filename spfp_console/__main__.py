from __future__ import annotations

import sys

from spfp_console.cli import main

sys.exit(main())
