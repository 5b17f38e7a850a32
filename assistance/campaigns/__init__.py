"""Campaigns (专项行动): a drive on the cases that match criteria, one task per case, reported daily."""
