"""Where results are kept: the journal (SQLite, written before every POST),
the output folder's image files (atomic writes, side files), and output
folders on remote storage (fsspec).  Below the core: it stores what it is
told and decides nothing about money.
"""
