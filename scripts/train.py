"""`python scripts/train.py ...` is the same as `sentvae train ...`."""

import sys

from sentvae.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
