"""Documents: the registry, document types and kinds, numbers, attachments, search, classification,
links.
"""

# The package's public names (pinned by tests/test_architecture.py).

from . import attachments as attachments
from . import classification as classification
from . import doctypes as doctypes
from . import document_ops as document_ops
from . import documents as documents
from . import kinds as kinds
from . import links as links
from . import numbering as numbering
from . import opinions as opinions
from . import search as search
