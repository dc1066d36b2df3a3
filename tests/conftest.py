"""Shared test set-up: quiet TensorFlow, fresh graphs for graph-mode tests."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402


@pytest.fixture
def graph():
    """A fresh tf.compat.v1 graph set as default, for TF 1-style tests."""
    with tf.Graph().as_default() as g:
        yield g


@pytest.fixture
def session(graph):
    """A Session on the fresh graph (variables are initialised by the test)."""
    with tf.compat.v1.Session(graph=graph) as sess:
        yield sess
