"""The scripts here run in subprocesses started by tests/engine/test_distribute.py.

They configure TensorFlow's devices before any other call and import each other by bare name,
so pytest must not import them (``--doctest-modules`` would).
"""

collect_ignore_glob = ["*.py"]
