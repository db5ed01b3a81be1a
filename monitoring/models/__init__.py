from monitoring.models.rooms import Egress, Ingress, Participant, Room, RoomEvent

__all__ = ["Egress", "Ingress", "Participant", "Room", "RoomEvent"]
