from trova.cli.main import main

main()
