"""Load tests of the deployed stack with Locust (`make load`, `python -m load --help`).

Only load/traffic.py imports Locust (and with it gevent's monkey patching); the other modules
are plain Python, so the unit tests import them without Locust installed.
"""
