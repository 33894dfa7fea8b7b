"""The command line: ``app`` parses arguments and wires the commands of each stage (``start``,
``review``, ``ship``, ``verify``) to the use cases; ``exits`` maps errors to exit codes."""
