"""`python -m registry_p2p.cli`: the `registry-p2p` command."""

from registry_p2p.cli import main

main()
