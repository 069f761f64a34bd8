"""Time under the law: the working-day calendar, legal and internal deadlines, targets, reminders,
notifications.
"""

# The package's public names (pinned by tests/test_architecture.py).

from . import calendar_calls as calendar_calls
from . import calendar_recompute as calendar_recompute
from . import chase as chase
from . import notify as notify
from . import periods as periods
from . import reminders as reminders
from . import step_targets as step_targets
from . import workcalendar as workcalendar
from .periods import END_OF_DAY as END_OF_DAY
from .periods import KINDS as KINDS
from .periods import DeadlineView as DeadlineView
from .periods import close as close
from .periods import due_date as due_date
from .periods import extend as extend
from .periods import extension_problem as extension_problem
from .periods import get as get
from .periods import list_for_case as list_for_case
from .periods import pause as pause
from .periods import rebase as rebase
from .periods import recompute_provisional as recompute_provisional
from .periods import restart as restart
from .periods import resume as resume
from .periods import set_due as set_due
from .periods import start as start
