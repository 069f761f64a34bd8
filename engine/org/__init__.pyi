"""People and authority: users and groups, the organisation chart, who may see, hold and sign,
tokens, passwords.
"""

# The package's public names (pinned by tests/test_architecture.py).

from . import access as access
from . import authority as authority
from . import identity as identity
from . import organisation as organisation
from . import orgchart as orgchart
from . import passwords as passwords
from . import task_checks as task_checks
from . import tokens as tokens
