"""Running cases: one step of one case, the task and timer projection, operators, timers,
administrators' actions.
"""

# The package's public names (pinned by tests/test_architecture.py).

from . import admin as admin
from . import cases as cases
from . import compaction as compaction
from . import drafts as drafts
from . import operators as operators
from . import projection as projection
from . import spiff as spiff
from . import state as state
from . import step as step
from . import timers as timers
from . import wakeup as wakeup
from .cases import OPEN_STATUSES as OPEN_STATUSES
from .cases import StepHook as StepHook
from .cases import can_see_task as can_see_task
from .cases import claim as claim
from .cases import complete as complete
from .cases import delegate as delegate
from .cases import fire_timers as fire_timers
from .cases import get_instance as get_instance
from .cases import get_task_row as get_task_row
from .cases import is_participant as is_participant
from .cases import load_workflow as load_workflow
from .cases import lock_case as lock_case
from .cases import may_start as may_start
from .cases import may_start_key as may_start_key
from .cases import persist as persist
from .cases import retry as retry
from .cases import start_case as start_case
from .cases import start_form_key as start_form_key
from .cases import task_data as task_data
from .cases import task_form as task_form
from .cases import unclaim as unclaim
