"""The worker side: `job` is where the stages meet; one module per stage.

fetch (Diga client) → evaluate (rules on logs) → decide (noise control) → render (Slack,
e-mail, text; digests) → deliver (apprise). `signatures` and `dryrun` serve them.
"""
