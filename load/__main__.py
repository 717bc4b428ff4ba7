"""`python -m load` (`make load`): see load/cli.py."""

# Locust runs on gevent: patch the standard library before anything imports sockets or threads
# (boto3, urllib). Without gevent (load/requirements.txt not installed) --help and --list still
# work and a run says how to install it.
try:
    from gevent import monkey

    monkey.patch_all()
except ImportError:
    pass

import sys

from load.cli import main

sys.exit(main())
