from enrich.agent.cli import main

if __name__ == "__main__":  # a worker process of `enrich run --processes` imports this module again
    main()
