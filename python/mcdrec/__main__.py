import sys

from mcdrec.cli import main

sys.exit(main())
