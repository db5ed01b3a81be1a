"""The live path: webhooks recorded in the inbox, applied to the mirror by appliers,
and the changes pushed to open pages by the pusher (see ``docs/live-path.md``)."""
