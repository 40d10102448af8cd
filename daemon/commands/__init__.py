"""The commands: the CLI (`cli.py`), the composition root (`app.py`: the only place that builds adapters from settings), and what each command drives."""
