"""Retrain the model: ``python als_fit.py [--data FILE] [--model FILE] [--factors N] ...``."""

from streamrec.cli.train import main

if __name__ == "__main__":
    raise SystemExit(main())
