"""Test override: fast password hashing, jobs run inline unless a test starts a consumer."""

import atexit
import os
import shutil
import tempfile

if "CRM_DATA_DIR" not in os.environ:
    # one scratch folder per test run (xdist workers inherit it), removed when the run ends
    _scratch = tempfile.mkdtemp(prefix="crm-test-")
    os.environ["CRM_DATA_DIR"] = _scratch
    atexit.register(shutil.rmtree, _scratch, True)

from crm.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
HUEY = {**HUEY, "immediate": True}  # noqa: F405
API_RATE_LIMIT = "100000/m"
# Tests serve static files through the finders; an empty collected folder keeps WhiteNoise from
# warning "No directory at …/static/" in every test run.
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405
