"""``python -m recosim``: the ``recosim`` command.

``recosim`` is a namespace package shared by every recosim distribution, so it has
no ``__init__.py``; Python finds this module in whichever portion ships it. The
umbrella distribution ``recosim`` (the repository root) is that portion.
"""

import sys

from recosim.core.cli import main

if __name__ == "__main__":
    sys.exit(main())
