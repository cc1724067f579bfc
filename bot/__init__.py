"""Tổng đài 1022, nhánh 7: voice gateway, content build and CLI.

Keep this module import-free: the Rasa environment imports `bot.config` and `bot.content`
too, and must not pull in audio or engine packages.
"""
