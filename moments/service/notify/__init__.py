"""Notifications when a job ends: signed webhooks and APNs pushes, sent from an outbox."""
