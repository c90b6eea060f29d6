"""Screens of the console: the main screen and the modal questions the session asks."""
