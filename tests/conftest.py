"""Keep the tests' parse cache apart from the user's (and from other test runs)."""

import os
import tempfile

# Set before any test imports cnncost, and inherited by the commands tests run.
os.environ["CNNCOST_CACHE_DIR"] = tempfile.mkdtemp(prefix="cnncost-test-cache-")
