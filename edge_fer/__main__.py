"""``python -m edge_fer`` runs the CLI."""

from edge_fer.cli import main

main()
