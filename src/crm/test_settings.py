"""Test override: fast password hashing, jobs run inline unless a test starts a consumer."""

import os
import tempfile

os.environ.setdefault("CRM_DATA_DIR", tempfile.mkdtemp(prefix="crm-test-"))

from crm.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
HUEY = {**HUEY, "immediate": True}  # noqa: F405
API_RATE_LIMIT = "100000/m"
