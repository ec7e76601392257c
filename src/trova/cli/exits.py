"""The exit statuses of every ``trova`` command (kept free of imports: ``trova --help`` loads it)."""

EXIT_ERROR, EXIT_USAGE, EXIT_NO_CREDITS, EXIT_INTERRUPTED = 1, 2, 3, 130
