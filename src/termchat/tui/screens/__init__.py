"""Modal screens of the chat app: model picker, confirm, search, export, system/options, help."""
