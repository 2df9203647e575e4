"""Training stage of edge-fer: FER2013 data, the model zoo, resumable training and evaluation.

Needs the ``train`` extra (TensorFlow); nothing in ``edge_fer`` imports this package at import time.
"""
