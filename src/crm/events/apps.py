from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "crm.events"
    label = "events"
