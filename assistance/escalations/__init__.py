"""Escalations: what a missed statutory deadline sets in motion (DESIGN.md §3, legal clocks).

One escalation per missed deadline; a missed start also issues a supervision order (督办) from the
supervising command center to the target court. `reminders` and `missed` are what the deadline jobs
do, `firing` the record that makes them safe to run twice, `supervision` what becomes of an order once
issued (chased when its own deadline passes, closed when the request is started), `service` the reads
and the command staff's resolution, `recipients` who hears about it.
"""
