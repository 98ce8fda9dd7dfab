"""The wire: what the API allows and how we speak to it.

`rules` says what a request may hold (pure, no I/O); `protocol` builds bodies
and reads answers (no I/O); `transport` is the only module that does HTTP
(deadlines, capped bodies, the retry rule for POSTs); `polling` waits for a
task; `pace` spaces requests and honours `Retry-After`.  Nothing here knows
about files, the journal or Jupyter.
"""
