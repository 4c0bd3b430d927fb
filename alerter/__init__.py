"""alerter: Diga call-ended webhooks in, logs fetched, rules run, alerts out.

The tree reads as the flow (see the README's "Where things are"): `http` is the edge
(webhook intake, its signatures, the api app and the console); `worker` runs the jobs on
arq, the call job meeting the stages of `pipeline` (fetch → evaluate → decide → deliver)
and `render` (the media); `replay` is the past, offline; `rules` is the rule language;
`store` is every byte kept in Redis; `compat` the only place a library's insides are
touched; `cli` the `alerter` command. Settings, the clock, logging, metrics and the shared
models sit here at the top. Imports point one way (tests/test_structure.py): cli → http →
operations → worker, replay → pipeline → render → store → rules → the top.
"""
