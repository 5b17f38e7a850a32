"""Enforcement cases and cross-regional assistance requests: lifecycle, deadlines, messages, attachments."""
