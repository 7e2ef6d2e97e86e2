from enrich.agent.cli import main

main()
