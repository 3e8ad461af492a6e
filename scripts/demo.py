"""`python scripts/demo.py ...` is the same as `sentvae demo ...`."""

import sys

from sentvae.cli import main

if __name__ == "__main__":
    sys.exit(main(["demo", *sys.argv[1:]]))
