"""What `wikimem bootstrap` reads from an existing repository, and its prompts.

Shipped in the wheel as `wikimem.bootstrap` and loaded with importlib.resources.
"""
