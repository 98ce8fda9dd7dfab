"""Images in and out: references turned into upload-ready bytes (checked by
their bytes, not their names), lossless encoding, thumbnails, and the
provenance chunk written into saved PNGs.  Uses the wire's rules; knows
nothing about the journal, the client or Jupyter.
"""
