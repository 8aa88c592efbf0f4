"""A bare Typer app: the baseline of ``bench_completion.py`` (its ``--help`` is the cheapest
thing any Typer CLI can do: import Typer, build one command, render help with Rich)."""

import typer

app = typer.Typer()


@app.command()
def hello(name: str = typer.Option("world", help="Who to greet.")) -> None:
    """Say hello."""
    typer.echo(f"hello {name}")


if __name__ == "__main__":
    app()
