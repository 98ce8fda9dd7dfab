"""For users' own test suites: the pytest plugin (`xenodia_emulator`,
`xenodia_client` fixtures), registered through the `pytest11` entry point.
"""
