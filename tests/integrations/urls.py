"""A URL conf serving the integrations router alone, as crm.api mounts it, for its tests."""

from django.urls import path
from ninja import NinjaAPI

from crm.core.api import SessionAuth, TokenAuth, install_error_handlers
from crm.integrations.api import router
from crm.tenancy.selectors import api_token_authenticate
from crm.tenancy.services import api_token_touch

api = NinjaAPI(
    urls_namespace="integrations_test",
    auth=[TokenAuth(lookup=api_token_authenticate, touch=api_token_touch), SessionAuth()],
)
install_error_handlers(api)
api.add_router("", router, url_name_prefix="integrations_test")

urlpatterns = [path("api/v1/", api.urls)]
