"""One function per DVC stage (the scripts in pipelines/ only parse arguments and call these)."""
