"""The audit chain: who did what to which subject, when, with what outcome; hash-linked and verifiable.

`service.record` appends in the caller's transaction, `service.record_in_own_transaction` in a unit of
work of its own (denied accesses, failed sign-ins), `service.verify` walks the chain and names the first
entry that was edited, removed or moved.
"""
