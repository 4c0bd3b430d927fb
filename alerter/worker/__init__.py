"""The worker: the arq wiring (`app`), the jobs (`call`, `digest`, `send`, `escalate`,
`episodes`), and what keeps them running (`guard`, `runner`)."""
