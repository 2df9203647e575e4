"""Process-wide CLI state set by the root callback (the --debug flag)."""

DEBUG = False
