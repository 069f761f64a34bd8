"""Read-only views the pages and the API share: the inbox, done work, progress, KPI figures.

Names load on first use (``lazy_loader``, from ``__init__.pyi``), so importing one
module of the package never imports the others: engine modules import each other by
their full module path, and no package import can close a cycle.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
