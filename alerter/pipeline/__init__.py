"""The stages a call goes through, one module each; `alerter.worker.call` is where they meet.

fetch (Diga client) → evaluate (rules on logs) → decide (noise control; `correlate`) →
`alerter.render` (Slack, e-mail, text) → deliver (apprise; `slack_app` for Slack's Web API).
"""
