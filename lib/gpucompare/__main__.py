"""``python -m gpucompare``: the same CLI as the ``gpucompare`` console script."""

import sys

from gpucompare.cli import main

sys.exit(main())
