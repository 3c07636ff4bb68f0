"""Image builds: a reproducible, offline-built Docker image that serves one version.

``service.build_image`` is the entry point the CLI and the GUI share. The parts:
``requirements`` (what the image installs, pinned to what the model records),
``wheelhouse`` (pip resolves on the desktop into a hash-pinned, cached lock),
``context`` (the Dockerfile and the tar context, byte-reproducible), ``engine``
(the Docker SDK against the local daemon), ``model_image`` (the model layer and
the image configuration Modelbay writes on top of the runtime image Docker
built) and ``smoke`` (run the image once).
Docker, pip and the registry are imported only when a build starts.
"""
