"""`mlenv init --from FILE`: the project files of pip, uv, Poetry, pixi and conda read into one
``Imported`` value (``core``), and the manifest written from it (``manifest``)."""
