"""Entry point of the tocsin-plugin-pydrop executable (a zip application
built by ./build): python3 runs this file from inside the zip."""

import sys

from pydrop.service import main

sys.exit(main(sys.argv))
