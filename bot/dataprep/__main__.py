"""`python -m bot.dataprep FILE [...]`: the same as `ftbot validate FILE [...]`."""

import sys

from bot.dataprep.cli import main

sys.exit(main(sys.argv[1:]))
