"""The model zoo behind one contract (``genmodels.contract``), plus the data layer.

Kept free of heavy imports so that error classes and data helpers load fast; model families are
imported by the registry when a model is first looked up.
"""
