"""repairman's imperative shell: read a snapshot, ask `policy.plan`, apply or print.

Everything that touches the outside world lives here: files, the terminal, and (with
the runner issues) the Kubernetes API. The policy never imports this package.
"""
