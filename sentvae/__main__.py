"""`python -m sentvae ...` is the same as `sentvae ...`."""

import sys

from .cli import main

sys.exit(main())
