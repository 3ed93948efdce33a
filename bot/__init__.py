"""newsbot's Discord layer: commands, checks and rendering over the ``index`` service."""
