"""What a process is: reading BPMN safely, validating, deploying versions, forms, the script
sandbox.
"""

# The package's public names (pinned by tests/test_architecture.py).

from . import bpmn as bpmn
from . import deployment as deployment
from . import diff as diff
from . import forms as forms
from . import reachability as reachability
from . import scripting as scripting
from . import scriptlimits as scriptlimits
from .deployment import SPIFF_NS as SPIFF_NS
from .deployment import UNSUPPORTED as UNSUPPORTED
from .deployment import CheckedFile as CheckedFile
from .deployment import DeployResult as DeployResult
from .deployment import FormExists as FormExists
from .deployment import ProcessInfo as ProcessInfo
from .deployment import SourceFile as SourceFile
from .deployment import check_files as check_files
from .deployment import deploy as deploy
from .deployment import form_keys as form_keys
from .deployment import get as get
from .deployment import is_decision as is_decision
from .deployment import latest as latest
from .deployment import latest_names as latest_names
from .deployment import list_all as list_all
from .deployment import list_latest as list_latest
from .deployment import load_spec as load_spec
from .deployment import provided_ids as provided_ids
