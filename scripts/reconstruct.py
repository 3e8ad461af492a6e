"""`python scripts/reconstruct.py ...` is the same as `sentvae reconstruct ...`."""

import sys

from sentvae.cli import main

if __name__ == "__main__":
    sys.exit(main(["reconstruct", *sys.argv[1:]]))
