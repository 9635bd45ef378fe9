"""Scratch directories for tests: one function, so every test's files live
under a recognisable prefix and go away with the test."""
import shutil
import tempfile


def scratch_dir(prefix="postern-it-", test=None, parent=None):
    """A new directory under `parent` (default: the system's temp dir).
    With `test`, it is removed when the test ends (addCleanup); otherwise
    the caller removes it."""
    d = tempfile.mkdtemp(prefix=prefix, dir=parent)
    if test is not None:
        test.addCleanup(shutil.rmtree, d, True)
    return d
