"""Plain values that the command line needs before anything heavy is imported.

No imports: ``docroute --help`` reads these while building its options, and must not
load SQLAlchemy or SpiffWorkflow to do so (tests/test_cli_startup.py).
"""

from __future__ import annotations

# Security clearances, lowest first (identity.clearance_level is the index).
CLEARANCES = ("none", "confidential", "secret", "top_secret")
# The longest an API token may live.
MAX_EXPIRY_DAYS = 3650
