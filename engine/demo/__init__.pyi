"""The demo organisation, documents and cases for ``docroute demo``.
"""

# The package's public names (pinned by tests/test_architecture.py).

from . import documents as documents
from . import duties as duties
from . import organisation as organisation
from .organisation import DEPARTMENTS as DEPARTMENTS
from .organisation import ISSUERS as ISSUERS
from .organisation import LEADERS as LEADERS
from .organisation import PASSWORD as PASSWORD
from .organisation import PORTFOLIOS as PORTFOLIOS
from .organisation import ROLES as ROLES
from .organisation import UNIT_HEADS as UNIT_HEADS
from .organisation import USERS as USERS
from .organisation import seed as seed
from .organisation import seed_authority as seed_authority
from .organisation import seed_organisation as seed_organisation
