"""The transactional event outbox: events are rows written with the state change they announce.

`service.record_event` writes one row per room in the caller's transaction, numbered per room;
`relay.OutboxRelay` publishes committed rows at least once; `service.replay` serves a reconnecting
client the events it missed; `SeqTracker` lets a consumer drop the duplicates at-least-once brings.
"""
