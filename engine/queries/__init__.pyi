"""Read-only views the pages and the API share: the inbox, done work, progress, KPI figures.
"""

# The package's public names (pinned by tests/test_architecture.py).

from . import handled as handled
from . import inbox as inbox
from . import kpi as kpi
from . import progress as progress
from . import records as records
from . import timeline as timeline
from . import views as views
