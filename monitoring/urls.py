from django.urls import path

from monitoring.views import health, rooms

app_name = "monitoring"

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("", rooms.room_list, name="rooms"),
]
