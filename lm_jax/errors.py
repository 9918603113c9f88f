"""The one exception type for bad user input.

Anything a user can get wrong (a missing file, a malformed line, an unknown
config key, sizes that don't fit the mesh) raises `InputError` with a one-line
message naming the problem. The command-line entry points print that line and
exit non-zero instead of showing a traceback.
"""


class InputError(ValueError):
  """A problem with the user's input, described in one line."""
