from __future__ import annotations

import os
import subprocess
import sys


def test_production_settings_pass_the_deploy_check(tmp_path) -> None:
    """With CRM_HTTPS on (production behind TLS) Django's deploy checks raise no warning."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "crm.settings",
        "CRM_DATA_DIR": str(tmp_path),
        "CRM_HTTPS": "1",
    }
    env.pop("CRM_DEBUG", None)
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # set by the browser tests' conftest
    result = subprocess.run(
        [sys.executable, "-m", "django", "check", "--deploy", "--fail-level", "WARNING"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_first_run_creates_private_secrets_in_the_data_dir(tmp_path) -> None:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "crm.settings", "CRM_DATA_DIR": str(tmp_path)}
    env.pop("CRM_SECRET_KEY", None)
    code = "from django.conf import settings; from crm.core.crypto import field_keys; field_keys()"
    subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        env=env,
        check=True,
        timeout=120,
    )
    for name in ("secret_key", "field_keys.json"):
        path = tmp_path / name
        assert path.exists() and path.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "secret_key").read_text().strip() != ""


def test_password_hasher_is_argon2() -> None:
    from crm import settings as production

    assert production.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")
