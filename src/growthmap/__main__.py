"""``python -m growthmap``: the same command line as the ``growthmap`` script."""

from growthmap.cli import main

main()
