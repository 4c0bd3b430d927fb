"""Rendering (pure): an alert and its media (Slack, e-mail, text), digests and episodes."""
