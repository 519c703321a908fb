"""`python -m runtime_builder ...`: the command line without build.py's virtualenv, for an
environment that already has what the command imports (CI's planning jobs install only
requirements-matrix.lock for `matrix`, `tags`, `validate`, `lifecycle`, `render --check`)."""

import sys

from .cli import main

sys.exit(main())
