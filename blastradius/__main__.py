from blastradius.cli.app import main

main()
