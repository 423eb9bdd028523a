"""Shared code for the book *Layer Normalization*.

Each module is named after a concept and can be read on its own:

* :mod:`helpers.norms`   -- layer norm and batch norm, NumPy references and torch modules
* :mod:`helpers.repro`   -- seeding, device choice and the training budget
* :mod:`helpers.plots`   -- the book's one figure style
* :mod:`helpers.widgets` -- explorables computed in JavaScript (anywidget) and kernel-side wiring

Importing :mod:`helpers` does nothing beyond defining names: no seeding, no
plotting style changes, no prints.
"""

__all__ = ["norms", "repro", "plots", "widgets"]
__version__ = "0.1.0"
