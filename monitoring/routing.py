from django.urls import path

from monitoring import consumers

websocket_urlpatterns = [
    path("ws/rooms/", consumers.RoomsConsumer.as_asgi()),
]
