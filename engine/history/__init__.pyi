"""The record and its proof: the hash-chained events, keys, signed checkpoints, replay and
verification, audit.
"""

# The package's public names (pinned by tests/test_architecture.py).

from . import audit as audit
from . import chain as chain
from . import checkpoints as checkpoints
from . import keys as keys
from . import replay as replay
from .chain import GENESIS as GENESIS
from .chain import SEALED as SEALED
from .chain import SYSTEM_CHAIN as SYSTEM_CHAIN
from .chain import ChainBreak as ChainBreak
from .chain import NoHistoryKey as NoHistoryKey
from .chain import anchor_mac as anchor_mac
from .chain import append as append
from .chain import append_case as append_case
from .chain import append_system as append_system
from .chain import canonical_json as canonical_json
from .chain import case_chain as case_chain
from .chain import case_events as case_events
from .chain import event_hash as event_hash
from .chain import head_mac as head_mac
from .chain import keys_for as keys_for
from .chain import listen as listen
from .chain import lock_chain as lock_chain
from .chain import seal_pending as seal_pending
from .chain import sealed_end as sealed_end
from .chain import use_keys as use_keys
from .chain import verify_events as verify_events
