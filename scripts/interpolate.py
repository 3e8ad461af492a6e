"""`python scripts/interpolate.py ...` is the same as `sentvae interpolate ...`."""

import sys

from sentvae.cli import main

if __name__ == "__main__":
    sys.exit(main(["interpolate", *sys.argv[1:]]))
