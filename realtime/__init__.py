"""The real-time layer: socket.io on every app node, fed by the event outbox.

- `server`   builds the node's socket.io server (`build_socketio`), lists its namespaces
             (`NAMESPACES`) and starts/stops its background work (`start_realtime`, `stop_realtime`);
             bounds each client's send queue.
- `live`     the `/live` namespace and the client protocol (read its docstring before writing a client).
- `rooms`    which rooms a caller may join: the security boundary.
- `replay`   events a reconnecting client missed, from the outbox; `resync` when they are gone.
- `fanout`   the Redis client manager shared by all nodes and the outbox relay's publisher.
- `presence` who is online per court and per request, across nodes, in Redis.
- `emitter`  a write-only emitter for worker jobs (ephemeral events).
- `client`   `LiveClient`, a Python client that implements the protocol (tests, benchmarks, court systems).
- `video/`   WebRTC signaling and the media server (`/video`).
"""
