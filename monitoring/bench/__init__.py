"""Parts of the measuring commands (``manage.py loadtest``, ``manage.py latency``).

- ``events``: LiveKit-shaped webhook bodies for seeded rooms, signed as LiveKit signs them;
- ``loadgen``: sends pre-signed webhooks at a rate and concurrency (in its own process);
- ``fleet``: open websocket pages as staff (in its own process);
- ``stack``: the console under daphne, the applier, the simulator, started and stopped here;
- ``staff``: staff accounts per role and their session cookies, created in the database;
- ``seed``: rooms and participants written straight into the mirror;
- ``bare``: the bare verify-and-upsert endpoint the console is compared with
  (``monitoring.bench.asgi`` serves it beside the console);
- ``kick``: a kick through the console's form against the bare RemoveParticipant call;
- ``report``: the printed tables.

Nothing here is imported by the console itself.
"""
