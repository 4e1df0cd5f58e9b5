"""The one exception type the command line turns into a single clear line."""


class DataprepError(Exception):
    """A problem with the user's input or environment, stated in one line.

    The CLI prints ``dataprep: <message>`` and exits with code 2; it never
    shows a traceback for this type.
    """
