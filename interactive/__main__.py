from interactive.cli import main

main()
