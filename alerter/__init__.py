"""alerter: Diga call-ended webhooks in, logs fetched, rules run, alerts out.

The tree reads as the flow (see the README's architecture section):
`http` is the edge (webhook intake, its signatures, the api app); `pipeline` is the worker's
job and one module per stage (fetch → evaluate → decide → render → deliver); `rules` is the
rule files, compiled; `store` is every byte kept in Redis; `cli` the `alerter` command.
Settings, logging, metrics and the shared models sit here at the top. Imports point one way:
cli → http → pipeline → store → rules → top.
"""
