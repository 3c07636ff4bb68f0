"""Remote hosts: SSH connections with pinned host keys, secrets in the OS keyring,
the remote Docker Engine reached through the verified connection, and shipping
images there sending only the layers the host lacks.

paramiko and docker are imported only when a connection is made.
"""
