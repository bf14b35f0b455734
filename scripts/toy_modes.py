"""The 2-D lab is the command ``translate lab`` (translate/lab.py); this script passes its arguments on."""
import sys

from translate.cli import app

app(["lab", *sys.argv[1:]])
