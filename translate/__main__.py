from translate.cli import app

app(prog_name="translate")
