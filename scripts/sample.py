"""`python scripts/sample.py ...` is the same as `sentvae sample ...`."""

import sys

from sentvae.cli import main

if __name__ == "__main__":
    sys.exit(main(["sample", *sys.argv[1:]]))
