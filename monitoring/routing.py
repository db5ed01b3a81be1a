from django.urls import path

from monitoring import consumers

websocket_urlpatterns = [
    path("ws/rooms/", consumers.RoomsConsumer.as_asgi()),
    path("ws/rooms/<int:room_id>/", consumers.RoomConsumer.as_asgi()),
    path("ws/wall/", consumers.WallConsumer.as_asgi()),
    path("ws/queue/", consumers.QueueConsumer.as_asgi()),
]
