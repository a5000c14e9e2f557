from sitroom.cli import entry

entry()
