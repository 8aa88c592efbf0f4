"""Widgets of the chat app: messages, conversation view, prompt, sidebar, comparison panes."""
