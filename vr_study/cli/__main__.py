import sys

from vr_study.cli import main

sys.exit(main())
