"""``python -m index.cli``: the same as ``newsbot``."""

import sys

from . import main

sys.exit(main())
